"""iVQA (Yang et al., "Just Ask", ICCV 2021) as released: ``train.csv``, ``val.csv`` and ``test.csv``.

Each row is one question on a segment of a YouTube video: ``video_id`` (the YouTube id), ``start`` and
``end`` (seconds), ``question`` and the five annotators' answers ``answer1`` ... ``answer5``. Columns are read
by name, so their order and any others (the release's ``type``) do not matter. The files have no question
id: a question is named by its row, 0 for the first, as Just Ask's and FrozenBiLM's loaders index them.
Cells are kept as written (the metric knows which ones Just Ask's pandas reader took for missing).
A clip is the range ``start``-``end`` of the video. (Just Ask's features, one a second, take the seconds
``start`` to ``end`` inclusive, ``features[start:end + 1]``: up to a second more at the end.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_csv_rows
from fseval.errors import DataError
from fseval.types import Sample, VideoSampling

ANSWER_COLUMNS = tuple(f"answer{i}" for i in range(1, 6))
COLUMNS = ("video_id", "start", "end", "question", *ANSWER_COLUMNS)


def seconds(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(
            f"{path}, line {line}: column {column!r} should be a time in seconds, found {text!r}."
        ) from None


def most_given(answers: list[str]) -> str:
    """The answer most annotators gave (the first of them on a tie), ignoring empty cells: a demo's answer."""
    given = [answer for answer in answers if answer.strip()]
    if not given:
        return ""
    counts = Counter(given)
    return max(given, key=lambda answer: (counts[answer], -given.index(answer)))


def read_ivqa_csv(root: Path, file: str, videos: str, sampling: VideoSampling) -> list[Sample]:
    """One sample per row, its clip the ``start``-``end`` segment of the video ``videos`` names."""
    path = root / file
    media = MediaRefs(root, videos, path, sampling)
    samples = []
    for index, (line, row) in enumerate(read_csv_rows(path, COLUMNS)):
        answers = [row[column] for column in ANSWER_COLUMNS]
        start, end = (seconds(path, line, column, row[column]) for column in ("start", "end"))
        fields: dict[str, Any] = {
            "question_id": index,
            "video_id": row["video_id"],
            "start": start,
            "end": end,
            "question": row["question"],
            "answers": answers,
            "answer": most_given(answers),
        }
        samples.append(Sample(id=index, media=media(fields, span=(start, end)), fields=fields))
    return samples
