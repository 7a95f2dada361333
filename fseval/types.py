"""The vocabulary every part of fseval shares: samples and their media, prompts, generation settings, rankings.

Loaders make ``Sample``s whose media are ``MediaRef``s (where an image or clip is); the run decodes
them into ``Media`` and renders ``Prompt``s, interleaved text in which each ``<image>`` marker
stands for one media item and ``<|endofchunk|>`` closes each demo. Models map these markers to their
own tokens. Rank tasks come back as ``Ranked`` candidates.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from PIL import Image

IMAGE_TOKEN = "<image>"
END_OF_CHUNK = "<|endofchunk|>"


class VideoSampling(BaseModel):
    """Which frames of a clip the model sees: ``frames`` spread uniformly, or one every ``1/fps`` seconds.

    With ``fps`` set (Flamingo samples at 1 FPS) ``frames`` is the cap: a longer clip keeps that many of
    its sampling times, spread uniformly. Without it a clip gives exactly ``frames`` frames, repeating
    frames of a clip shorter than that, so every clip of a task has the same frame count.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(default=8, gt=0, description="frames per clip (uniform), or the most frames (with fps)")
    fps: float | None = Field(default=None, gt=0, description="sample at this rate instead of uniformly")

    @property
    def tag(self) -> str:
        """Part of a clip's media key: the same file sampled two ways is two different media items."""
        return f"frames={self.frames}" if self.fps is None else f"fps={self.fps:g},frames<={self.frames}"


class _FilePath:
    """``MediaRef.path``: kept as given (a string from a loader), read as a ``Path``.

    A split of half a million questions would spend seconds building Paths that are read only for the
    few samples a run decodes, so the Path is built on each read instead.
    """

    def __get__(self, ref: object | None, owner: type | None = None) -> Path | None:
        if ref is None:
            return None  # the field's default
        location: str | os.PathLike[str] | None = ref.__dict__["_path"]
        return location if location is None or isinstance(location, Path) else Path(location)

    def __set__(self, ref: object, location: str | os.PathLike[str] | None) -> None:
        ref.__dict__["_path"] = location


@dataclass(frozen=True)
class MediaRef:
    """Where one media item comes from: a file, or encoded bytes (Hugging Face image columns).

    ``path`` may be given as a string (``str(path)``-normalised, as loaders build it); it reads as a ``Path``.
    ``video`` is set for a video clip: the file is decoded into the frames it selects (``fseval.media.video``);
    ``span`` cuts the clip out of a longer video: its start and end in seconds from the video's first frame
    (None: the whole file).
    An image keeps the mode it is stored in (palette, RGBA, greyscale ...) unless ``rgb`` is set:
    OpenFlamingo's datasets hand images to the model as opened, so they are resized before
    conversion to RGB, except torchvision's ImageFolder (ImageNet), which converts on loading.
    """

    key: str
    path: _FilePath = _FilePath()
    data: bytes | None = None
    error: str | None = None
    video: VideoSampling | None = None
    rgb: bool = False
    span: tuple[float, float] | None = None


@dataclass(frozen=True)
class Sample:
    """One benchmark item: its dataset id, its media, and the fields prompts and metrics read."""

    id: int | str
    media: tuple[MediaRef, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)


class DemoSource(Protocol):
    """Demos that a benchmark's data sets per query, instead of draws from a shared pool (structured demos).

    VL-ICL Bench's are one: each query's demos follow rules of its release (two classes' support images
    of the query itself, answers that depend on the query, same/different pairs), drawn from one seeded
    stream. ``demos`` gives, for a seed and a shot count, each query's demos in prompt order, keyed by
    ``str(sample.id)``; a shot count may stand for more demos than shots (one per class per shot).
    """

    description: str

    def demos(self, seed: int, shots: int) -> Mapping[str, Sequence[Sample]]: ...


@dataclass(frozen=True)
class Media:
    """One decoded media item of a prompt.

    ``key`` identifies the content (a file path or a content hash) so that adapters can cache
    vision features across prompts; ``frames`` holds one image for a still and several for a
    video clip.
    """

    key: str
    frames: tuple[Image.Image, ...]


@dataclass(frozen=True)
class Prompt:
    """An interleaved prompt: ``text`` with one ``<image>`` marker per item of ``media``."""

    text: str
    media: tuple[Media, ...] = ()

    def __post_init__(self) -> None:
        markers = self.text.count(IMAGE_TOKEN)
        if markers != len(self.media):
            raise ValueError(f"prompt has {markers} {IMAGE_TOKEN} markers but {len(self.media)} media items")


@dataclass(frozen=True)
class ReferencedPrompt(Prompt):
    """A prompt with the query sample's fields, handed only to a model that asks for them (the mock oracle)."""

    reference: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; defaults follow OpenFlamingo's evaluation (3 beams, no length penalty)."""

    max_new_tokens: int = 5
    num_beams: int = 3
    length_penalty: float = 0.0
    min_new_tokens: int = 0


@dataclass(frozen=True)
class Ranked:
    """Candidates best first with their scores (mean or summed token log-likelihoods)."""

    labels: tuple[str, ...]
    scores: tuple[float, ...]

    @classmethod
    def from_scores(cls, scores: Mapping[str, float]) -> Ranked:
        # Stable: equal scores keep the candidates' order, as torch.topk does in practice on CPU.
        names, values = list(scores), list(scores.values())
        order = sorted(range(len(values)), key=lambda i: -values[i])
        return cls(tuple(names[i] for i in order), tuple(values[i] for i in order))

    def probability(self, label: str) -> float:
        """Softmax over the candidates' scores."""
        top = max(self.scores)
        total = sum(math.exp(s - top) for s in self.scores)
        return math.exp(self.scores[self.labels.index(label)] - top) / total

    @property
    def top(self) -> str:
        return self.labels[0]
