"""Reading one prediction from a benchmark's standard results file (``fseval score``).

Each metric names its format (``ResultFormat``): a JSON list of records keyed by ``id_key``, and
how to read the prediction out of one record; and, where the benchmark has one, its own results file
(``NativeFormat``), read whole. A malformed record is a ``DataError`` naming the
file, the item and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fseval.errors import DataError, require
from fseval.types import Ranked, Sample

ReadPrediction = Callable[[Mapping[str, Any], Path, str], Any]
"""(record, file, "item i") -> the prediction the metric scores."""


LoadNative = Callable[[Path, Sequence[Sample]], "dict[Any, Any] | None"]
"""(file, the evaluation split in file order) -> predictions by sample id, or None: not a file of this format."""


@dataclass(frozen=True)
class NativeFormat:
    """A benchmark's own results file, as people hold them from other code (NExT-OE's JSON, RareAct's .npy)."""

    shape: str  # how the help and error messages spell it
    load: LoadNative


@dataclass(frozen=True)
class ResultFormat:
    id_key: str
    read: ReadPrediction
    shape: str  # how the help and error messages spell it
    native: NativeFormat | None = None  # tried first by ``fseval score``; the JSON list of records otherwise


def read_json_file(path: Path) -> Any:
    """A results file's JSON, or a ``DataError`` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not a JSON file: {e}") from None


def text(key: str) -> ReadPrediction:
    """The string in field ``key`` (an answer, a caption)."""

    def read(record: Mapping[str, Any], path: Path, where: str) -> str:
        value = require(record, key, path, where)
        if not isinstance(value, str):
            raise DataError(f"{path}: {where} field {key!r} should be a string.")
        return value

    return read


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def label_or_scores(record: Mapping[str, Any], path: Path, where: str) -> Ranked:
    """A predicted ``label``, or ``scores`` mapping each class name to its log-likelihood."""
    if "scores" in record:
        scores = record["scores"]
        if not isinstance(scores, Mapping) or not scores or not all(map(_number, scores.values())):
            raise DataError(f"{path}: {where} field 'scores' should map class names to finite numbers.")
        return Ranked.from_scores({str(k): float(v) for k, v in scores.items()})
    return Ranked((text("label")(record, path, where),), (0.0,))


def chosen_text(record: Mapping[str, Any], path: Path, where: str) -> Ranked:
    """``answer``: the text of the chosen choice (multiple choice: STAR, ScienceQA)."""
    return Ranked((text("answer")(record, path, where),), (0.0,))


def chosen_index(index: Any, choices: Sequence[str], problem: str) -> Ranked:
    """The choice at ``index`` ranked first among a sample's ``choices``; ``problem`` names the bad value."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(choices):
        raise DataError(f"{problem} should be a choice index from 0 to {len(choices) - 1}, not {index!r}.")
    return Ranked.from_scores({choice: 0.0 if i == index else -1.0 for i, choice in enumerate(choices)})


def yes_probability(record: Mapping[str, Any], path: Path, where: str) -> Ranked:
    """``score`` = P(yes); only its order matters for ROC AUC, so it stands for both scores."""
    p = require(record, "score", path, where)
    if not _number(p) or not 0 <= p <= 1:
        raise DataError(f"{path}: {where} field 'score' should be P(yes), a number from 0 to 1, not {p!r}.")
    return Ranked.from_scores({"yes": float(p), "no": 1 - float(p)})


def non_empty_strings(fields: Mapping[str, Any], key: str) -> str | None:
    """A target check: ``fields[key]`` is a non-empty list of strings (VQA answers, reference captions)."""
    value = fields.get(key)
    if not isinstance(value, list | tuple) or not value:
        return f"{key} should be a non-empty list, not {value!r}"
    if not all(isinstance(item, str) for item in value):
        return f"every item of {key} should be a string"
    return None


def string(fields: Mapping[str, Any], key: str) -> str | None:
    """A target check: ``fields[key]`` is a string (a label, a single answer)."""
    value = fields.get(key)
    return None if isinstance(value, str) else f"{key} should be a string, not {value!r}"


VQA_ANSWERS = ResultFormat("question_id", text("answer"), '[{"question_id", "answer"}]')
CAPTIONS = ResultFormat("image_id", text("caption"), '[{"image_id", "caption"}]')
LABELS = ResultFormat("id", label_or_scores, '[{"id", "label"}] or [{"id", "scores": {class: log-likelihood}}]')
YES_PROBABILITIES = ResultFormat("id", yes_probability, '[{"id", "score"}] with score = P(yes)')
