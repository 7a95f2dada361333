"""Decoding media for prompts. A file that cannot be read fails its sample, not the run."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, UnidentifiedImageError

from fseval.errors import MediaError
from fseval.types import Media, MediaRef


@lru_cache(maxsize=512)
def _decode(key: str, path: str | None, data: bytes | None, rgb: bool) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data) if data is not None else str(path)) as image:
            image.load()
            return image.convert("RGB") if rgb else image.copy()
    except FileNotFoundError as e:
        raise MediaError(f"image not found: {path}") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise MediaError(f"cannot decode image {key}: {e}") from e


def load_media(ref: MediaRef) -> Media:
    """Demo images recur across queries, so decoded images are kept in a small LRU cache."""
    if ref.error:
        raise MediaError(ref.error)
    if ref.video is not None:
        from fseval.media.video import load_video

        return load_video(ref)
    return Media(key=ref.key, frames=(_decode(ref.key, str(ref.path) if ref.path else None, ref.data, ref.rgb),))
