"""Small JPEG thumbnails of a run's media, as data URIs, made once per file however many samples use it.

A JPEG is decoded at a reduced scale (``Image.draft``), so a COCO image costs about a millisecond;
a video clip shows its first frame. Thumbnails are made in priority order (the caller passes query
images first) until the byte budget is spent: a report of a very large run then embeds what fits
and names the rest, rather than growing without bound.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

QUALITY = 65
VIDEO_SUFFIXES = {".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v"}
BATCH = 200  # files per worker task
OVER_BUDGET = "not embedded: the report's image budget is spent (--image-budget)"
# Why a medium has no thumbnail, in the few kinds a summary counts (the ``why`` of each names its file).
NOT_FOUND, UNREADABLE, NO_FILE, BUDGET_SPENT = "not found", "unreadable", "no file", "over budget"


@dataclass(frozen=True)
class Thumbnail:
    uri: str | None  # a data URI, or None where the file could not be read or the budget was spent
    why: str = ""  # why there is no thumbnail
    reason: str = ""  # its kind: NOT_FOUND, UNREADABLE, NO_FILE or BUDGET_SPENT


def media_path(key: str, cwd: Path | None) -> Path | None:
    """The file a ``samples.jsonl`` media key names (a video key ends ``#frames``), or None (a content hash)."""
    name = key.split("#", 1)[0]
    if not name or ("/" not in name and "." not in name):
        return None  # Hugging Face image bytes are keyed by their hash: there is no file to show
    path = Path(name)
    return path if path.is_absolute() or cwd is None else cwd / path


def _first_frame(path: Path) -> Image.Image:
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
            return image
    raise ValueError(f"no video frames in {path}")


def _thumbnail(path: Path, size: int) -> bytes:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        image = _first_frame(path)
    else:
        image = Image.open(path)
        width, height = image.size
        scale = min(size / width, size / height, 1.0)
        image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))  # JPEG: decode at 1/2-1/8
    image = image.convert("RGB")
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY, optimize=True)
    return buffer.getvalue()


def _make(path: Path | None, size: int) -> bytes | tuple[str, str]:
    """The thumbnail's JPEG bytes, or (reason, why) there is none."""
    if path is None:
        return NO_FILE, "no file (image bytes from a dataset column)"
    if not path.is_file():
        return NOT_FOUND, f"not found: {path}"
    try:
        return _thumbnail(path, size)
    except Exception as e:  # a report shows what it can: an unreadable file is named, not fatal
        return UNREADABLE, f"cannot read {path.name}: {type(e).__name__}"


def _make_all(paths: Sequence[Path | None], size: int) -> list[bytes | tuple[str, str]]:
    return [_make(path, size) for path in paths]


def make_thumbnails(paths: Sequence[Path | None], size: int, budget_bytes: int) -> list[Thumbnail]:
    """One thumbnail per path, in order, until their data URIs would pass ``budget_bytes``.

    Large sets are made in worker processes, a batch of files each (PIL holds the GIL while it
    decodes, so threads would not help).
    """
    batches = [paths[i : i + BATCH] for i in range(0, len(paths), BATCH)]
    workers = min(os.cpu_count() or 1, len(batches))
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    made = pool.map(_make_all, batches, [size] * len(batches)) if pool else (_make_all(b, size) for b in batches)
    out: list[Thumbnail] = []
    spent = 0
    try:
        for batch in made:
            for result in batch:
                if isinstance(result, tuple):
                    out.append(Thumbnail(None, result[1], result[0]))
                    continue
                uri = "data:image/jpeg;base64," + base64.b64encode(result).decode("ascii")
                if spent + len(uri) > budget_bytes:
                    return out + [Thumbnail(None, OVER_BUDGET, BUDGET_SPENT)] * (len(paths) - len(out))
                spent += len(uri)
                out.append(Thumbnail(uri))
        return out
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
