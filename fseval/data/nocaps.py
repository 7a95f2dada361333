"""NoCaps validation (Agrawal et al. 2019, "nocaps: novel object captioning at scale"; files from nocaps.org/download).

``nocaps_val_4500_captions.json`` is a COCO captions file: ``images[]`` with ``id`` (0-4499), ``open_images_id``,
``file_name`` (``<open_images_id>.jpg``), ``coco_url`` (``https://s3.amazonaws.com/nocaps/val/<file_name>``) and
``domain`` (``in-domain``, ``near-domain`` or ``out-domain``: 648, 2938 and 914 images); ``annotations[]`` with
``image_id``, ``id`` and ``caption``, 10 per image. Images are kept as that URL names them, ``val/<file_name>``
(they are Open Images V4 validation images, so an Open Images ``validation/`` folder serves too, with the task's
``images`` template changed).

One sample per image, in ``images[]`` order; its references are its annotations in file order. NoCaps has no
training captions: demos come from COCO (``fseval.data.captions``, Karpathy train), as IDEFICS takes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import Sample

DOMAINS = ("in-domain", "near-domain", "out-domain")


def read_nocaps(root: Path, file: str, images: str) -> list[Sample]:
    path = root / file
    data = read_json(path)
    references = _captions_by_image(require_list(data, "annotations", path), path)
    media = MediaRefs(root, images, path)
    samples = []
    for i, item in enumerate(require_list(data, "images", path)):
        where = f"images[{i}]"
        image_id = require(item, "id", path, where)
        domain = require(item, "domain", path, where)
        if domain not in DOMAINS:
            raise DataError(f"{path}: {where} has domain {domain!r}, not one of {', '.join(DOMAINS)}.")
        fields = {
            "image_id": image_id,
            "file_name": require(item, "file_name", path, where),
            "open_images_id": item.get("open_images_id", ""),
            "domain": domain,
            "references": references.pop(image_id, []),
        }
        samples.append(Sample(id=image_id, media=media(fields), fields=fields))
    if references:
        stray = next(iter(references))
        raise DataError(f"{path}: annotations name image_id {stray!r}, which is not in images[].")
    return samples


def _captions_by_image(annotations: list[Any], path: Path) -> dict[Any, list[Any]]:
    captions: dict[Any, list[Any]] = {}
    for i, annotation in enumerate(annotations):
        where = f"annotations[{i}]"
        image_id = require(annotation, "image_id", path, where)
        captions.setdefault(image_id, []).append(require(annotation, "caption", path, where))
    return captions
