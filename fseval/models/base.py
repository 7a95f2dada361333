"""The model adapter interface every model family implements.

The runner hands an adapter interleaved prompts: text in which each ``<image>`` marker stands
for one media item, in order, plus the decoded media. ``<|endofchunk|>`` closes each demo. The
adapter owns the mapping of these markers to its own tokens (OpenFlamingo uses them as they are;
IDEFICS has its own), so prompt files stay model-agnostic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from fseval.errors import FsevalError
from fseval.types import GenerationSettings, Media, Prompt


class ModelAdapter(ABC):
    """What the runner needs from a model: ``generate``, ``rank`` and ``describe``.

    The optional abilities below have defaults that do nothing; a family overrides the ones it has.
    """

    name: str = "model"
    compat_modes: tuple[str, ...] = ()
    """Codes whose numerics ``fseval run --compat`` may ask this model's ranking to reproduce."""
    wants_reference: bool = False
    """True only for the mock oracle: its prompts then carry the query's fields (``ReferencedPrompt``)."""

    compat: str | None = None
    """The code whose ranking numerics the model reproduces (one of ``compat_modes``), or None for fseval's own.

    Given to the adapter when it is built: the run passes ``--compat``'s (``registry.load_model(compat=...)``)."""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        """Continue each prompt; return the decoded continuation, special tokens removed.

        Generation stops at ``<|endofchunk|>`` (or the model's end of sequence).
        """

    @abstractmethod
    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        """Per-token log-likelihoods of each candidate continuation of each prompt.

        Returns ``result[i][j]`` = the log-probabilities of the tokens of ``candidates[i][j]``
        given ``prompts[i]``; callers reduce them (sum, mean) as their metric defines.
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Provenance recorded in results.json (family, paths, checkpoint hash, precision...)."""

    def prepare_media(self, items: Sequence[Media]) -> None:  # noqa: B027  (optional: does nothing by default)
        """Preprocess media ahead of use; called from background threads (must be thread-safe)."""

    def usage(self) -> dict[str, int]:
        """Tokens and requests a served model was billed for so far (results.json's ``model.usage``); {}: none."""
        return {}

    def model_text(self, text: str, videos: Sequence[bool] = ()) -> str | None:
        """The prompt as the model is given it, where that differs from fseval's text (recorded per sample).

        ``videos`` says which of its ``<image>`` markers stand for video clips.
        """
        return None


def refuse_video(
    prompts: Sequence[Prompt],
    model: str,
    hint: str = "Video tasks need a model with a frame axis (the openflamingo family).",
) -> None:
    """For models without a frame axis: a media item of several frames is an error, not its last frame."""
    for prompt in prompts:
        for media in prompt.media:
            if len(media.frames) != 1:
                raise FsevalError(
                    f"{model} takes single images; media {media.key!r} has {len(media.frames)} frames.", hint=hint
                )
