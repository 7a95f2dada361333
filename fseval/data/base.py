"""What loaders share: reading JSON with errors that name the file, the record and the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fseval.errors import DataError


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
