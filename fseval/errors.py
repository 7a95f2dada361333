"""Errors a user can act on.

The CLI prints an ``FsevalError`` as one panel and exits 1; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class FsevalError(Exception):
    """A problem with the user's input or environment, with what to do next."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class SpecError(FsevalError):
    """A task or prompt file is invalid."""


class DataError(FsevalError):
    """Dataset files are missing or malformed."""


class UnknownNameError(FsevalError):
    """A task, model, metric or other registered name does not exist."""

    def __init__(self, kind: str, name: str, known: Iterable[str], listing: str | None = None) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1)
        message = f"Unknown {kind} {name!r}."
        if close:
            message += f" Did you mean {close[0]!r}?"
        hint = f"Known: {', '.join(known)}." if known else None
        if listing:
            hint = f"{hint} ({listing})" if hint else f"({listing})"
        super().__init__(message, hint)


class MediaError(Exception):
    """One sample's media could not be read; recorded in samples.jsonl."""


def plural(count: int, noun: str) -> str:
    """``1 sample``, ``2 samples``: the count and its noun (the last word made plural with an s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
