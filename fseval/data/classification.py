"""Classification benchmarks: Hateful Memes (JSON lines) and ImageNet (class folders)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fseval.data.base import MediaRefs, read_text
from fseval.errors import DataError, require
from fseval.resources import ASSETS_DIR
from fseval.types import MediaRef, Sample

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".JPEG"}


def read_hateful_memes(root: Path, file: str, images: str) -> list[Sample]:
    """``{"id", "img", "text", "label"}`` per line; label 1 (hateful) becomes "yes", 0 "no"."""
    path = root / file
    media = MediaRefs(root, images, path)
    samples = []
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path} line {n} is not valid JSON: {e.msg}.") from e
        where = f"line {n}"
        fields = {
            "id": require(item, "id", path, where),
            "img": require(item, "img", path, where),
            "text": require(item, "text", path, where),
        }
        if "label" in item:
            fields["label"] = "yes" if item["label"] == 1 else "no"
        samples.append(Sample(id=fields["id"], media=media(fields), fields=fields))
    return samples


@lru_cache(maxsize=8)
def class_names(file: str) -> list[str]:
    """Class names, one per line, in class-index order; a bare name is looked up in fseval's assets."""
    path = Path(file) if Path(file).is_absolute() else ASSETS_DIR / file
    return [line for line in read_text(path).splitlines() if line]


def read_image_folder(root: Path, folder: str, names_file: str) -> list[Sample]:
    """torchvision's ImageFolder order: class folders sorted by name give the class indices."""
    base = root / folder
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    names = class_names(names_file)
    if len(classes) != len(names):
        raise DataError(
            f"{base} has {len(classes)} class folders but {names_file} names {len(names)} classes.",
            hint=f"Every class of {names_file} needs its folder, one class per folder, sorted as the names are "
            "(ImageNet: all 1000 synset folders, n01440764 ..., under train/ and val/).",
        )
    samples = []
    for index, synset in enumerate(classes):
        for image in sorted(p for p in (base / synset).iterdir() if p.suffix in IMAGE_SUFFIXES):
            sample_id = f"{synset}/{image.name}"
            fields = {"id": sample_id, "class_id": index, "synset": synset, "label": names[index]}
            media = (MediaRef(key=str(image), path=image, rgb=True),)  # ImageFolder's loader converts to RGB
            samples.append(Sample(id=sample_id, media=media, fields=fields))
    return samples
