"""The model adapter interface every model family implements.

The runner hands an adapter interleaved prompts: text in which each ``<image>`` marker stands
for one media item, in order, plus the decoded media. ``<|endofchunk|>`` closes each demo. The
adapter owns the mapping of these markers to its own tokens (OpenFlamingo uses them as they are;
IDEFICS has its own), so prompt files stay model-agnostic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

IMAGE_TOKEN = "<image>"
END_OF_CHUNK = "<|endofchunk|>"


@dataclass(frozen=True)
class Media:
    """One media item of a prompt.

    ``key`` identifies the content (a file path or a content hash) so that adapters can cache
    vision features across prompts; ``frames`` holds one image for a still and several for a
    video clip.
    """

    key: str
    frames: tuple[Image.Image, ...]


@dataclass(frozen=True)
class Prompt:
    """An interleaved prompt: ``text`` with one ``<image>`` marker per item of ``media``.

    ``reference`` carries the query sample's fields. Real models must ignore it; it exists so
    the deterministic ``mock`` model can act as an oracle in harness tests.
    """

    text: str
    media: tuple[Media, ...] = ()
    reference: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        markers = self.text.count(IMAGE_TOKEN)
        if markers != len(self.media):
            raise ValueError(f"prompt has {markers} {IMAGE_TOKEN} markers but {len(self.media)} media items")


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; defaults follow OpenFlamingo's evaluation (3 beams, no length penalty)."""

    max_new_tokens: int = 5
    num_beams: int = 3
    length_penalty: float = 0.0
    min_new_tokens: int = 0


@runtime_checkable
class ModelAdapter(Protocol):
    """What the runner needs from a model."""

    name: str

    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        """Continue each prompt; return the decoded continuation, special tokens removed.

        Generation stops at ``<|endofchunk|>`` (or the model's end of sequence).
        """
        ...

    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        """Per-token log-likelihoods of each candidate continuation of each prompt.

        Returns ``result[i][j]`` = the log-probabilities of the tokens of ``candidates[i][j]``
        given ``prompts[i]``; callers reduce them (sum, mean) as their metric defines.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance recorded in results.json (family, paths, checkpoint hash, precision...)."""
        ...


@runtime_checkable
class SupportsCompat(Protocol):
    """A model that can reproduce another evaluation code's numerics on request (``fseval run --compat``)."""

    compat_modes: tuple[str, ...]
    compat: str | None


def flag_argument(value: bool | str) -> bool:
    """A switch given as ``--model-arg name=false``: values that did not parse as JSON arrive as strings."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "")
    return bool(value)


def is_out_of_memory(error: BaseException) -> bool:
    """An accelerator out-of-memory error: ``torch.OutOfMemoryError``, or a RuntimeError saying so.

    Matched by name, so that callers need not import torch.
    """
    return type(error).__name__ == "OutOfMemoryError" or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )
