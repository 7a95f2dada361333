"""Hugging Face copies of a benchmark, read through ``datasets``.

Two cases: parquet/arrow files (a local folder, or a dataset repo in the Hugging Face cache),
whose columns a task maps onto fseval's sample fields; and a dataset repo that simply holds the
original release files (``openflamingo/eval_benchmark``), which is found in the cache and read by
the ordinary loaders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fseval.data.base import answer_meta
from fseval.errors import DataError
from fseval.types import MediaRef, Sample

HF_PREFIX = "hf:"


def resolve_hub_dataset(name: str) -> Path:
    """The local snapshot folder of a dataset repo already in the Hugging Face cache (never downloads)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=name, repo_type="dataset", local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError) as e:
        raise DataError(
            f"The dataset {name!r} is not in the Hugging Face cache.",
            hint=f"On a machine with internet: hf download --repo-type dataset {name}; "
            "or pass --data-dir with a local copy.",
        ) from e


def _media(row: Mapping[str, Any], column: str, source: str, index: int) -> MediaRef:
    value = row[column]
    if isinstance(value, Mapping) and value.get("bytes"):
        data = value["bytes"]
        return MediaRef(key=hashlib.sha256(data).hexdigest(), data=data)
    if isinstance(value, Mapping) and value.get("path"):
        return MediaRef(key=value["path"], path=Path(value["path"]))
    if isinstance(value, str):
        return MediaRef(key=value, path=Path(value))
    raise DataError(f"{source}: row {index} column {column!r} holds no image (bytes or path).")


def read_hf_datasets(root: Path, data_files: str, columns: Mapping[str, str]) -> list[Sample]:
    """Rows of parquet/arrow files under ``root`` mapped to samples via ``columns`` (field -> column)."""
    import datasets

    files = sorted(root.glob(data_files))
    if not files:
        raise DataError(f"No files match {data_files!r} under {root}.")
    builder = "arrow" if files[0].suffix == ".arrow" else "parquet"
    ds = datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train")
    source = f"{root}/{data_files}"
    missing = sorted(set(columns.values()) - set(ds.column_names))
    if missing:
        raise DataError(
            f"{source}: no column {', '.join(map(repr, missing))} (columns: {', '.join(ds.column_names)}).",
            hint="Map fseval's fields to this copy's columns with `columns:` in the task file.",
        )
    image_column = columns.get("image")
    if image_column and isinstance(ds.features[image_column], datasets.Image):
        ds = ds.cast_column(image_column, datasets.Image(decode=False))
    samples = []
    for index, row in enumerate(ds):
        fields: dict[str, Any] = {name: row[col] for name, col in columns.items() if name not in ("image", "answers")}
        if "answers" in columns:
            raw = row[columns["answers"]]
            fields["answers"] = [a["answer"] if isinstance(a, Mapping) else a for a in raw]
            fields["answer_meta"] = answer_meta(raw)
        media = (_media(row, image_column, source, index),) if image_column else ()
        sample_id = fields.get("id", index)
        samples.append(Sample(id=sample_id, media=media, fields=fields))
    return samples
