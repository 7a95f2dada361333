"""Samples and the helpers loaders share: reading JSON with errors that name the file and field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fseval.errors import DataError

if TYPE_CHECKING:
    from fseval.data.video import VideoSampling


@dataclass(frozen=True)
class MediaRef:
    """Where one media item comes from: a file, or encoded bytes (Hugging Face image columns).

    ``video`` is set for a video clip: the file is decoded into the frames it selects (``fseval.media.video``).
    An image keeps the mode it is stored in (palette, RGBA, greyscale ...) unless ``rgb`` is set:
    OpenFlamingo's datasets hand images to the model as opened, so they are resized before
    conversion to RGB, except torchvision's ImageFolder (ImageNet), which converts on loading.
    """

    key: str
    path: Path | None = None
    data: bytes | None = None
    error: str | None = None
    video: VideoSampling | None = None
    rgb: bool = False


@dataclass(frozen=True)
class Sample:
    """One benchmark item: its dataset id, its media, and the fields prompts and metrics read."""

    id: int | str
    media: tuple[MediaRef, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).",
            hint="Re-download the file; it may be truncated.",
        ) from e


def require(record: Any, key: str, path: Path, where: str) -> Any:
    """``record[key]``, or a DataError naming the file, the record and the missing field."""
    if not isinstance(record, Mapping):
        raise DataError(f"{path}: {where} should be a JSON object, found {type(record).__name__}.")
    if key not in record:
        raise DataError(
            f"{path}: {where} has no field {key!r} (fields: {', '.join(sorted(record)) or 'none'}).",
            hint="Is this the benchmark's original release file?",
        )
    return record[key]


def require_list(container: Any, key: str | None, path: Path) -> list[Any]:
    """The list at ``container[key]`` (or ``container`` itself when key is None)."""
    value = container if key is None else require(container, key, path, "the top level")
    if not isinstance(value, list):
        what = "the top level" if key is None else f"field {key!r}"
        raise DataError(f"{path}: {what} should be a list, found {type(value).__name__}.")
    return value


def answer_meta(answer: Mapping[str, Any]) -> str:
    """An answer record without its text, serialised: what makes two records equal besides the text.

    OpenFlamingo's VQA metric compares whole answer dicts; this keeps what it needs to reproduce that.
    """
    return json.dumps({k: v for k, v in answer.items() if k != "answer"}, sort_keys=True)
