"""What loaders share: reading JSON with errors that name the file, the record and the field; media references
and the answer metadata of VQA records, made cheaply for splits of half a million questions."""

from __future__ import annotations

import csv
import functools
import gc
import io
import json
import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fseval.errors import DataError
from fseval.types import MediaRef, VideoSampling


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off while a reader makes millions of objects and no cycles.

    Each collection walks every object still alive, so a VQAv2-size split would pay for dozens of
    walks over the JSON it has parsed and the samples it has made, and they find nothing to free.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).",
            hint="Re-download the file; it may be truncated.",
        ) from e
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None


def read_text(path: Path) -> str:
    """A text file of a release (JSON lines, class names, QA files), or a DataError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None


def not_utf8(path: Path, error: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}).",
        hint="Re-download the file; it may be damaged, or not the release's own file.",
    )


def read_csv_rows(path: Path, columns: tuple[str, ...], hint: str = "") -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row of a CSV file that must have ``columns``; others are ignored.

    A missing column or a short row is a ``DataError`` naming the file, the line and the column.
    """
    reader = csv.DictReader(io.StringIO(read_text(path).removeprefix("\ufeff"), newline=""))
    header = reader.fieldnames or []
    missing = [column for column in columns if column not in header]
    if missing:
        raise DataError(
            f"{path} has no column {', '.join(map(repr, missing))} (its columns: {', '.join(header) or 'none'}).",
            hint=f"{hint} The release's file has the columns {', '.join(columns)}.".strip(),
        )
    rows = []
    for row in reader:
        if None in row.values():  # a short row: csv fills the missing cells with None
            short = [column for column in columns if row.get(column) is None]
            raise DataError(f"{path}, line {reader.line_num}: the row has no cell for {', '.join(short)}.")
        rows.append((reader.line_num, row))
    return rows


class MediaRefs:
    """Each record's media: ``root / template.format_map(record)``, one shared ``(MediaRef,)`` per file.

    Questions of one image share its reference, and no Path is built while loading (``MediaRef.path``
    builds it when read): the key is the string ``str(root / relative)`` gives, joined by hand where
    that is certain to be the same string. With ``video`` the files are clips sampled that way, and
    ``span`` (start and end seconds) cuts a record's clip out of a longer video: the key names the range,
    so each segment of a video is its own media item.
    """

    def __init__(self, root: Path, template: str, source: Path, video: VideoSampling | None = None) -> None:
        self.root, self.template, self.source, self.video = root, template, source, video
        self.prefix = str(root / "_")[:-1]  # "" for ".", "/" for "/", else the folder and a separator
        self.suffix = "" if video is None else f"#{video.tag}"  # the same file sampled two ways differs
        self.refs: dict[tuple[str, tuple[float, float] | None], tuple[MediaRef, ...]] = {}

    def __call__(self, record: Mapping[str, Any], span: tuple[float, float] | None = None) -> tuple[MediaRef, ...]:
        try:
            relative = self.template.format_map(record)
        except (KeyError, ValueError, IndexError) as e:
            # Recorded, not raised: scoring needs no media, and a run reports it before loading a model.
            what = "image" if self.video is None else "video"
            error = f"{self.source}: cannot build the {what} path {self.template!r} from a record: {e!r}"
            return (MediaRef(key=self.template, error=error),)
        refs = self.refs.get((relative, span))
        if refs is None:
            location = self.prefix + relative if _plain(relative) else str(self.root / relative)
            key = location + self.suffix + ("" if span is None else f"@{float(span[0])!r}-{float(span[1])!r}s")
            refs = (MediaRef(key=key, path=location, video=self.video, span=span),)
            self.refs[(relative, span)] = refs
        return refs


def _plain(relative: str) -> bool:
    """Appending ``relative`` to a folder's string is what ``Path`` would make of it (nothing to normalise)."""
    return (
        os.sep == "/"
        and relative[:1] not in ("", "/", ".")
        and relative[-1] != "/"
        and "//" not in relative
        and "/." not in relative
    )


def answer_meta(records: Sequence[Any]) -> tuple[int, ...]:
    """Per answer record, a number two records share exactly when they are equal besides their text.

    OpenFlamingo's VQA metric leaves an annotator out by comparing whole answer dicts; this is what it
    needs of the records besides the text. Records with distinct ``answer_id``s (VQAv2's 1 to 10) all
    differ, and their questions share one tuple; others are compared by their JSON without the text
    (a record that is not an object counts as an empty one).
    """
    try:
        ids = list(map(_ANSWER_ID, records))
        if ids == _one_to(len(ids)) or ({type(i) for i in ids} <= {int, str} and len(set(ids)) == len(ids)):
            return distinct_answers(len(ids))
    except (AttributeError, TypeError):  # a record that is not an object, an id that cannot be hashed
        pass
    rests = [
        json.dumps({k: v for k, v in r.items() if k != "answer"}, sort_keys=True) if isinstance(r, Mapping) else ""
        for r in records
    ]
    first: dict[str, int] = {}
    groups = tuple(first.setdefault(rest, len(first)) for rest in rests)
    return _SHARED.setdefault(groups, groups)


_ANSWER_ID = operator.methodcaller("get", "answer_id")


@functools.cache
def distinct_answers(count: int) -> tuple[int, ...]:
    """The ``answer_meta`` of ``count`` records that all differ besides their text: one tuple for every question."""
    return tuple(range(count))


@functools.cache
def _one_to(count: int) -> list[int]:
    return list(range(1, count + 1))


_SHARED: dict[tuple[int, ...], tuple[int, ...]] = {}  # the few shapes of grouped answers, one tuple each
