"""Scores per group of samples: the official VQA script's ``perAnswerType`` and ``perQuestionType``, for any metric.

A task names the sample fields to group by (``breakdown: [answer_type, question_type]``). Each
group's score is the task's metric computed on that group's samples alone: for VQA accuracy that
is the mean of the per-question accuracies in the group, exactly what ``vqaEval.py`` reports per
answer and question type (unrounded here; it prints ``round(., 2)``); for captions every metric of
the group (CIDEr's IDF then comes from the group's references, as it would for that subset); for
ROC AUC the AUC within the group, or nan where the group holds one class only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fseval.errors import FsevalError
from fseval.metrics.registry import Metric


@dataclass(frozen=True)
class GroupScore:
    value: float
    n: int
    extra: dict[str, float] = field(default_factory=dict)


Breakdown = dict[str, dict[str, GroupScore]]
"""field -> group value -> its score."""


def group_key(value: Any) -> str | None:
    """A field's value as a group name (None: the sample belongs to no group of that field)."""
    if value is None or isinstance(value, list | dict):
        return None
    return str(value)


def breakdown(
    metric: Metric,
    predictions: Sequence[Any],
    targets: Sequence[Mapping[str, Any]],
    variant: str,
    fields: Sequence[str],
) -> Breakdown:
    """For each field, each of its groups scored on its own samples."""
    out: Breakdown = {}
    for name in fields:
        members: dict[str, list[int]] = {}
        for index, target in enumerate(targets):
            key = group_key(target.get(name))
            if key is not None:
                members.setdefault(key, []).append(index)
        if members:
            out[name] = {
                key: _score(metric, predictions, targets, variant, rows) for key, rows in sorted(members.items())
            }
    return out


def _score(
    metric: Metric, predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str, rows: list[int]
) -> GroupScore:
    try:
        outcome = metric.score([predictions[i] for i in rows], [targets[i] for i in rows], variant)
    except FsevalError:  # a group the metric cannot score on its own (ROC AUC over one class)
        return GroupScore(math.nan, len(rows))
    return GroupScore(outcome.value, len(rows), dict(outcome.extra))
