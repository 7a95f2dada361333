"""RareAct (Miech et al. 2020): ``rareact.csv`` as released in github.com/antoine77340/RareAct.

Its columns (README): ``id`` (the segment's number), ``video_id`` (the YouTube id), ``start`` and ``end``
(seconds; the released segments are 10 s long), ``class_id`` (0 to 148), ``verb``, ``noun``, and
``annotation``: 1 positive, 0 negative, 2 hard negative (only the verb is right), 3 hard negative (only
the noun is right), 4 hard negative (verb and noun both right but the verb not applied to the noun).

One sample per line, as the official score matrix has one row per line: the clip of ``video_id`` from
``start`` to ``end``, with its line's class and annotation. A clip annotated for several classes is on
several lines (and so scored once per line, its frames decoded once). Every sample's candidates are the
classes' "verb noun", in ``class_id`` order: one tuple, shared by all samples (field ``classes``); ``label`` is
the line's own class and ``line`` its line number in the file. The
videos come as ``rareact.zip`` (linked from the README), one file per YouTube id; the task file says
where they are unpacked (``videos/{video_id}.mp4``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_csv_rows
from fseval.errors import DataError
from fseval.types import Sample, VideoSampling

COLUMNS = ("id", "video_id", "start", "end", "class_id", "verb", "noun", "annotation")
ANNOTATIONS = range(5)
HINT = "This should be rareact.csv from github.com/antoine77340/RareAct."


def read_rareact(root: Path, file: str, videos: str, sampling: VideoSampling) -> list[Sample]:
    path = root / file
    lines = [_line(row, path, number) for number, row in read_csv_rows(path, COLUMNS, HINT)]
    if not lines:
        raise DataError(f"{path} holds no lines after its header.", hint=HINT)
    classes = _classes(lines, path)
    media = MediaRefs(root, videos, path, sampling)
    samples = []
    for fields in lines:
        fields["label"] = classes[fields["class_id"]]
        fields["classes"] = classes
        samples.append(
            Sample(id=fields["id"], media=media(fields, span=(fields["start"], fields["end"])), fields=fields)
        )
    return samples


def _line(row: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    where = f"{path}, line {number}"
    fields: dict[str, Any] = {"id": _integer(row, "id", where), "line": number}
    for key in ("video_id", "verb", "noun"):
        value = row[key]
        if not value:
            raise DataError(f"{where}: field {key!r} is empty.", hint=HINT)
        fields[key] = value
    for key in ("start", "end"):
        fields[key] = _seconds(row, key, where)
    fields["class_id"] = _integer(row, "class_id", where)
    fields["annotation"] = _integer(row, "annotation", where)
    if fields["annotation"] not in ANNOTATIONS or fields["class_id"] < 0:
        raise DataError(
            f"{where}: class_id {fields['class_id']} and annotation {fields['annotation']}: a class_id is 0 or "
            "more and an annotation 0 (negative), 1 (positive) or 2, 3, 4 (hard negatives).",
            hint=HINT,
        )
    return fields


def _integer(row: dict[str, Any], key: str, where: str) -> int:
    try:
        return int(row[key])
    except (TypeError, ValueError):
        raise DataError(f"{where}: field {key!r} should be an integer, not {row[key]!r}.", hint=HINT) from None


def _seconds(row: dict[str, Any], key: str, where: str) -> int | float:
    text = row[key]
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    try:
        return float(text)
    except (TypeError, ValueError):
        raise DataError(f"{where}: field {key!r} should be a time in seconds, not {text!r}.", hint=HINT) from None


def _classes(lines: list[dict[str, Any]], path: Path) -> tuple[str, ...]:
    """Each class_id's "verb noun", in class_id order: one name per id, one id per name, ids 0 to K-1."""
    names: dict[int, str] = {}
    ids: dict[str, int] = {}
    for fields in lines:
        class_id, name = fields["class_id"], f"{fields['verb']} {fields['noun']}"
        where = f"{path}, line {fields['line']}"
        if names.setdefault(class_id, name) != name:
            raise DataError(f"{where}: class_id {class_id} is {name!r} here, {names[class_id]!r} above.", hint=HINT)
        if ids.setdefault(name, class_id) != class_id:
            raise DataError(f"{where}: {name!r} has class_id {class_id} here, {ids[name]} above.", hint=HINT)
    absent = sorted(set(range(max(names) + 1)) - set(names))
    if absent:
        raise DataError(
            f"{path}: no line has class_id {', '.join(map(str, absent[:5]))}; the class_ids should run from 0 to "
            f"{max(names)} (one score column per class_id).",
            hint=HINT,
        )
    return tuple(names[class_id] for class_id in range(len(names)))
