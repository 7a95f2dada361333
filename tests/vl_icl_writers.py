"""A tiny VL-ICL Bench release: the synthetic query.json and support.json of tests/fixtures/vl_icl and their images.

The JSON files are shaped as the official code (github.com/ys-zong/VL-ICL) reads them; every image path they
name is relative to the release's root folder, where an 8x8 image of a colour hashed from the path is written
(in the format the path's suffix names).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures" / "vl_icl"
ALL = ("open_mi", "clevr", "operator_induction", "operator_induction_interleaved", "textocr", "matching_mi")


def image_paths(record: Any) -> Iterator[str]:
    """Every image path a record names: its ``image`` list, open_mi's support images, matching pairs' images."""
    if isinstance(record, dict):
        for key, value in record.items():
            if key in ("image", "images") and isinstance(value, list):
                yield from (path for path in value if isinstance(path, str))
            else:
                yield from image_paths(value)
    elif isinstance(record, list):
        for item in record:
            yield from image_paths(item)


def write_image(root: Path, relative: str) -> None:
    """An 8x8 image at ``root/relative`` whose colour depends on ``relative`` alone."""
    red, green, blue = hashlib.sha256(relative.encode()).digest()[:3]
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (red, green, blue)).save(path)


def write_vl_icl(root: Path, datasets: Sequence[str] = ALL) -> Path:
    """``root/<dataset>/{query,support}.json`` for each dataset and every image they name; returns ``root``."""
    for dataset in datasets:
        (root / dataset).mkdir(parents=True, exist_ok=True)
        for name in ("query.json", "support.json"):
            shutil.copyfile(FIXTURES / dataset / name, root / dataset / name)
            for relative in sorted(set(image_paths(json.loads((FIXTURES / dataset / name).read_text())))):
                write_image(root, relative)
    return root
