"""A deterministic model for harness tests: no weights, exact and predictable answers.

Modes (``--model-arg mode=...``):

- ``majority`` (default): the most frequent of the query's reference answers (first on ties), an
  oracle whose score tests can compute by hand;
- ``copy-demo``: the answer of the last demo in the prompt (the text after the last ``:`` of the
  last ``<|endofchunk|>``-terminated item), like a model that only imitates its context;
- ``field``: the query's reference field named by ``field=NAME`` (its first item for a list);
- ``constant``: ``text=...``.

``suffix=...`` is appended to every generation to exercise the post-processing; ``crash_after=N``
raises after N model calls, ``kill_after=N`` kills the process with SIGKILL, ``interrupt_after=N``
sends it SIGINT (Ctrl-C) and ``terminate_after=N`` SIGTERM (a scheduler's stop), to test ``--resume``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Sequence
from typing import Any

from fseval.errors import FsevalError
from fseval.models.base import ModelAdapter
from fseval.models.mock.settings import MODES, MockSettings
from fseval.types import END_OF_CHUNK, GenerationSettings, Prompt, ReferencedPrompt


class MockModel(ModelAdapter):
    name = "mock"
    compat_modes = ("openflamingo",)  # ranking without padding: nothing to reproduce but the prompts
    wants_reference = True

    def __init__(
        self,
        mode: str = "majority",
        field: str = "answers",
        text: str = "",
        suffix: str = "",
        crash_after: int = 0,
        kill_after: int = 0,
        interrupt_after: int = 0,
        terminate_after: int = 0,
        *,
        name: str = "mock",
        compat: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise FsevalError(f"Unknown mock mode {mode!r}.", hint=f"Use --model-arg mode=<{'|'.join(MODES)}>.")
        self.mode, self.field, self.text, self.suffix = mode, field, text, suffix
        self.name, self.compat = name, compat
        self.crash_after, self.kill_after, self.calls = crash_after, kill_after, 0
        self.signal_after = {signal.SIGINT: interrupt_after, signal.SIGTERM: terminate_after}

    def _count_call(self) -> None:
        # Simulates a crash mid-run (tests of --resume): the process dies after this many model calls.
        self.calls += 1
        if self.crash_after and self.calls > self.crash_after:
            raise SimulatedCrash(f"mock model crashed on call {self.calls}")
        if self.kill_after and self.calls > self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # as `kill -9` would, with no chance to clean up
        for signum, after in self.signal_after.items():
            if after and self.calls > after:
                os.kill(os.getpid(), signum)  # as Ctrl-C (SIGINT) or a scheduler (SIGTERM) would

    def answer(self, prompt: Prompt) -> str:
        reference = prompt.reference if isinstance(prompt, ReferencedPrompt) else {}
        if self.mode == "majority":
            answers = list(reference.get("answers") or [""])
            counts = Counter(answers)
            return max(answers, key=lambda a: (counts[a], -answers.index(a)))
        if self.mode == "copy-demo":
            demos = prompt.text.split(END_OF_CHUNK)[:-1]
            return demos[-1].rsplit(":", 1)[-1] if demos else ""
        if self.mode == "field":
            value = reference.get(self.field, "")
            return str(value[0] if isinstance(value, list) and value else value)
        return self.text

    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        self._count_call()
        return [self.answer(p) + self.suffix for p in prompts]

    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        # One "token" per word: log-probability 0 for the answer this mock would generate, -1 otherwise.
        self._count_call()
        result = []
        for prompt, options in zip(prompts, candidates, strict=True):
            answer = self.answer(prompt)
            result.append([[0.0 if option == answer else -1.0] * max(1, len(option.split())) for option in options])
        return result

    def describe(self) -> dict[str, Any]:
        return {"family": "mock", "mode": self.mode, "field": self.field, "text": self.text, "suffix": self.suffix}


class SimulatedCrash(Exception):
    """Raised by the mock's ``crash_after`` to test interrupted runs."""


def build(settings: MockSettings | None = None, *, name: str | None = None, compat: str | None = None) -> MockModel:
    """The mock for validated settings (``fseval.models.registry``); ``compat`` changes nothing it computes."""
    return MockModel(**(settings or MockSettings()).model_dump(), name=name or "mock", compat=compat)
