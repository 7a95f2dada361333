"""Karpathy split files of COCO and Flickr30k (``dataset_coco.json``, ``dataset_flickr30k.json``).

``images[]`` carry ``split`` (train/restval/val/test), ``filepath`` (COCO: train2014/val2014),
``filename``, ``cocoid`` (COCO) and ``sentences[].raw``. OpenFlamingo takes its demos from
``train`` and evaluates on ``test``; the image id is ``cocoid`` for COCO and the file name without
extension for Flickr30k. Demo captions are the first reference, stripped, as OpenFlamingo writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import require, require_list
from fseval.types import Sample


def read_karpathy(root: Path, file: str, split: str, images: str) -> list[Sample]:
    path = root / file
    media = MediaRefs(root, images, path)
    samples = []
    for i, item in enumerate(require_list(read_json(path), "images", path)):
        if require(item, "split", path, f"images[{i}]") != split:
            continue
        filename = require(item, "filename", path, f"images[{i}]")
        sentences = require(item, "sentences", path, f"images[{i}]")
        references = [require(s, "raw", path, f"a sentence of images[{i}]") for s in sentences]
        image_id: Any = item["cocoid"] if "cocoid" in item else Path(filename).stem
        fields = {
            "image_id": image_id,
            "filename": filename,
            "filepath": item.get("filepath", ""),
            "caption": references[0].strip() if references else "",
            "references": references,
        }
        samples.append(Sample(id=image_id, media=media(fields), fields=fields))
    return samples
