"""TextCaps 0.1 (Sidorov et al. 2020, "TextCaps: a Dataset for Image Captioning with Reading Comprehension";
files from textvqa.org/textcaps/dataset).

``TextCaps_0.1_{train,val}.json`` hold ``{"dataset_type", "dataset_name", "dataset_version", "data": [...]}``,
one record per caption: ``image_id`` (also ``image_name``), ``image_path`` (``train/<image_id>.jpg``),
``caption_id``, ``caption_str`` and ``reference_strs``, every caption of the image (5 in val), repeated on each
of its records; besides OCR and Flickr fields fseval does not read. Train and val images are TextVQA's
``train_images/<image_id>.jpg`` (``train_val_images.zip``).

One sample per image, in the order of its first record: the references are that record's ``reference_strs``
(what the COCO caption evaluation of the TextCaps server scores against), the demo caption its
``caption_str``, stripped.
"""

from __future__ import annotations

from pathlib import Path

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import Sample


def read_textcaps(root: Path, file: str, images: str) -> list[Sample]:
    path = root / file
    media = MediaRefs(root, images, path)
    samples = []
    seen: set[str] = set()
    for i, item in enumerate(require_list(read_json(path), "data", path)):
        where = f"data[{i}]"
        image_id = require(item, "image_id", path, where)
        if not isinstance(image_id, str):
            raise DataError(f"{path}: {where} field 'image_id' should be a string, not {image_id!r}.")
        if image_id in seen:
            continue
        seen.add(image_id)
        caption = require(item, "caption_str", path, where)
        references = require(item, "reference_strs", path, where)
        if not isinstance(caption, str):
            raise DataError(f"{path}: {where} field 'caption_str' should be a string, not {caption!r}.")
        fields = {
            "image_id": image_id,
            "image_name": item.get("image_name", image_id),
            "caption": caption.strip(),
            "references": references,
        }
        samples.append(Sample(id=image_id, media=media(fields), fields=fields))
    return samples
