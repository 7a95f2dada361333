"""STAR accuracy (Wu et al., NeurIPS 2021): multiple choice, overall and per question type.

A question is right when the top-ranked of its own four choices is the released ``answer`` (the release's
program executor marks a choice right the same way, by its text). Questions are grouped into the four
types by ``question_id``'s prefix (``Interaction``, ``Sequence``, ``Prediction``, ``Feasibility``), as the
release's ``split_by_qtype`` groups them. The headline is the STAR challenge leaderboard's "Mean", the mean
of the four types' accuracies (STAR's paper and the papers after it report it as Mean or Avg.); the
accuracy over all questions is ``overall``, and each type's comes from the task's breakdown.

The challenge's scoring code is not public (it runs on eval.ai), so there is no official fixture: the tests
take the definition above case by case. Its submission file is read by ``fseval score``:
``{"Interaction": [{"question_id", "answer": index of the chosen choice}], "Sequence": [...], ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fseval.errors import DataError, FsevalError, require
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.stats import Resampler
from fseval.types import Ranked, Sample

QUESTION_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def _chosen(record: Any, choices: Sequence[str], path: Path, where: str) -> Ranked:
    return formats.chosen_index(require(record, "answer", path, where), choices, f"{path}: {where} field 'answer'")


def load_submission(path: Path, samples: Sequence[Sample]) -> dict[Any, Any] | None:
    """The STAR challenge's submission file, by question id (None: the file is not one)."""
    data = formats.read_json_file(path)
    if not isinstance(data, dict) or not data or not set(data) <= set(QUESTION_TYPES):
        return None
    choices = {sample.id: sample.fields.get("choices", []) for sample in samples}
    predictions: dict[Any, Any] = {}
    for question_type, records in data.items():
        if not isinstance(records, list):
            raise DataError(f"{path}: {question_type!r} should be a list of {{question_id, answer}}.")
        for i, record in enumerate(records):
            where = f"{question_type}[{i}]"
            question_id = require(record, "question_id", path, where)
            if not isinstance(question_id, str) or question_id in predictions:
                raise DataError(f"{path}: {where} has a question_id that is not a string or appears twice.")
            # An id not in the split is kept (as None) for ``fseval score`` to report with the others.
            predictions[question_id] = (
                _chosen(record, choices[question_id], path, where) if question_id in choices else None
            )
    return predictions


STAR_RESULTS = formats.ResultFormat(
    "question_id",
    formats.chosen_text,
    '[{"question_id", "answer": the chosen choice\'s text}]',
    native=formats.NativeFormat(
        '{"Interaction": [{"question_id", "answer": the chosen choice\'s index}], "Sequence": ..., '
        '"Prediction": ..., "Feasibility": ...} (the STAR challenge submission)',
        load_submission,
    ),
)


def check_target(fields: Mapping[str, Any]) -> str | None:
    """The answer is one of the sample's choices, and the choices are distinct strings."""
    problem = formats.string(fields, "label") or formats.non_empty_strings(fields, "choices")
    if problem:
        return problem
    if len(set(fields["choices"])) != len(fields["choices"]):
        return f"its choices repeat a text: {fields['choices']!r}"
    return None if fields["label"] in fields["choices"] else f"its answer {fields['label']!r} is not one of its choices"


def mean_over_types(correct: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Per row of ``correct`` (R, n), the mean over the question types present of their accuracies (x100)."""
    accuracies = []
    for question_type in np.unique(types):
        members = types == question_type
        count = members.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracies.append(np.where(count > 0, (correct * members).sum(axis=-1) / count, np.nan))
    with np.errstate(invalid="ignore"):
        return 100 * np.nanmean(np.stack(accuracies), axis=0) if accuracies else np.full(correct.shape[:-1], np.nan)


def _resampler(correct: np.ndarray, types: np.ndarray) -> Resampler:
    return lambda idx: mean_over_types(correct[idx], types[idx])


@register_metric(
    "star_accuracy",
    variants=("default",),
    default_variant="default",
    target_fields=("label", "question_type"),
    result_format=STAR_RESULTS,
    mode="rank",
    per_sample_mean=False,  # the mean over types weighs a question by its type's size
    headline="STAR Mean",
    check_target=check_target,
    description="STAR: mean of the 4 question types' top-1 accuracies (the challenge's Mean), overall alongside; x100.",
)
def score_star(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} questions.")
    if any(not isinstance(p, Ranked) for p in predictions):
        raise FsevalError("STAR accuracy needs ranked choices (a task with mode: rank).")
    per_sample = [float(p.top == t["label"]) for p, t in zip(predictions, targets, strict=True)]
    correct = np.asarray(per_sample, dtype=np.float64)
    types = np.asarray([str(t.get("question_type", "")) for t in targets])
    value = float(mean_over_types(correct, types)) if per_sample else math.nan
    overall = 100 * math.fsum(per_sample) / len(per_sample) if per_sample else math.nan
    return MetricResult(value, per_sample, {"overall": overall}, _resampler(correct, types))
