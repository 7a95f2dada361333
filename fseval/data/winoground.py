"""Winoground (Thrush et al. 2022), as released on the Hugging Face hub (``facebook/winoground``).

``data/examples.jsonl`` holds one example per line: ``id`` (0-399), ``caption_0`` and ``caption_1`` (the
same words in a different order), ``image_0`` and ``image_1`` (file stems: ``data/images.zip`` unpacks to
``images/<stem>.png``, caption k describing image k), and the tags ``tag``, ``secondary_tag``,
``num_main_preds``, ``collapsed_tag``. The release's loading script (``winoground.py``) reads exactly these.

Each example gives two samples, one per image: ``"<id>_i<j>"`` shows image j and ranks both captions, in
the release's order, so the two samples of an example hold the four scores s(caption, image) that the
text, image and group scores compare. A sample's ``caption`` is its image's own caption (what a demo of
it shows). Images are converted to RGB on loading, as the release's example notebooks do (some are RGBA).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fseval.data.base import read_text
from fseval.errors import DataError, require
from fseval.types import MediaRef, Sample

TEXT_FIELDS = ("caption_0", "caption_1", "image_0", "image_1", "tag", "secondary_tag", "collapsed_tag")


def sample_id(example_id: int, image: int) -> str:
    """The sample showing image ``image`` (0 or 1) of example ``example_id``."""
    return f"{example_id}_i{image}"


def read_winoground(root: Path, file: str, images: str) -> list[Sample]:
    """Two samples per line of ``examples.jsonl``; ``images`` is a path template on ``{image}``, the file stem."""
    path = root / file
    samples: list[Sample] = []
    seen: dict[int, int] = {}
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path} line {n} is not valid JSON: {e.msg}.") from e
        fields = _example_fields(example, path, f"line {n}")
        if fields["example_id"] in seen:
            raise DataError(f"{path}: line {n} repeats id {fields['example_id']} (line {seen[fields['example_id']]}).")
        seen[fields["example_id"]] = n
        samples += [_sample(root, images, fields, image, path) for image in (0, 1)]
    return samples


def _example_fields(example: Any, path: Path, where: str) -> dict[str, Any]:
    example_id = require(example, "id", path, where)
    if not isinstance(example_id, int) or isinstance(example_id, bool):
        raise DataError(f"{path}: {where} field 'id' should be an integer, not {example_id!r}.")
    # demo_group: the example's two samples share their demos and never demo each other (fseval/run/demos.py).
    fields: dict[str, Any] = {"example_id": example_id, "demo_group": example_id}
    for key in TEXT_FIELDS:
        value = require(example, key, path, where)
        if not isinstance(value, str):
            raise DataError(f"{path}: {where} field {key!r} should be a string, not {value!r}.")
        fields[key] = value
    num_main_preds = require(example, "num_main_preds", path, where)
    if not isinstance(num_main_preds, int) or isinstance(num_main_preds, bool):
        raise DataError(f"{path}: {where} field 'num_main_preds' should be an integer, not {num_main_preds!r}.")
    fields["num_main_preds"] = num_main_preds
    if fields["caption_0"] == fields["caption_1"]:
        # The two samples' scores are told apart by caption: equal captions could not be scored.
        raise DataError(f"{path}: {where} has the same caption_0 and caption_1 ({fields['caption_0']!r}).")
    return fields


def _sample(root: Path, images: str, fields: dict[str, Any], image: int, path: Path) -> Sample:
    stem = fields[f"image_{image}"]
    try:
        relative = images.format_map({"image": stem, "id": fields["example_id"]})
    except (KeyError, ValueError, IndexError) as e:
        raise DataError(
            f"{path}: cannot build the image path {images!r} ({e!r}); it may use {{image}} and {{id}}."
        ) from None
    location = root / relative
    own = {
        "id": sample_id(fields["example_id"], image),
        "image": image,
        "caption": fields[f"caption_{image}"],
        "captions": (fields["caption_0"], fields["caption_1"]),
    }
    media = (MediaRef(key=str(location), path=location, rgb=True),)
    return Sample(id=own["id"], media=media, fields={**fields, **own})
