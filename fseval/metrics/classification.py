"""Classification by likelihood ranking: top-k accuracy (ImageNet) and ROC AUC (Hateful Memes).

Both follow OpenFlamingo's ``evaluate_classification``: candidates are ranked by their
(length-normalised) log-likelihood; top-k compares class *names*, so ImageNet's two duplicated
names ("crane", "maillot") count as right for either index; Hateful Memes' score is
P(yes) = softmax over the two candidates' scores, and the metric is ROC AUC (``sklearn``'s
``roc_auc_score``: ties count one half).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fseval.errors import FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.stats import Resampler
from fseval.types import Ranked


def _check(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]]) -> None:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} samples.")
    if any(not isinstance(p, Ranked) for p in predictions):
        raise FsevalError("Classification metrics need ranked candidates (a task with mode: rank).")


@register_metric(
    "accuracy",
    variants=("default",),
    default_variant="default",
    target_fields=("label",),
    result_format=formats.LABELS,
    mode="rank",
    check_target=lambda fields: formats.string(fields, "label"),
    description="Top-1 accuracy of the highest-likelihood candidate (top-5 alongside); x100.",
)
def score_accuracy(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    _check(predictions, targets)
    top1 = [float(p.top == t["label"]) for p, t in zip(predictions, targets, strict=True)]
    top5 = [float(t["label"] in p.labels[:5]) for p, t in zip(predictions, targets, strict=True)]
    n = len(top1)
    return MetricResult(
        value=100 * sum(top1) / n if n else math.nan,
        per_sample=top1,
        extra={"top1": 100 * sum(top1) / n if n else math.nan, "top5": 100 * sum(top5) / n if n else math.nan},
    )


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties 1/2."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise FsevalError(
            f"ROC AUC needs both classes, but all {len(labels)} scored samples are "
            f"{'positive' if negatives == 0 else 'negative'}.",
            hint="Evaluate more samples (--limit) or check the labels in the data.",
        )
    # Average ranks (1-based) handle ties; the Mann-Whitney U statistic gives the AUC.
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, positive in zip(ranks, labels, strict=True) if positive)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@register_metric(
    "roc_auc",
    variants=("default",),
    default_variant="default",
    target_fields=("label",),
    result_format=formats.YES_PROBABILITIES,
    mode="rank",
    check_target=lambda fields: formats.string(fields, "label"),
    per_sample_mean=False,  # per-sample scores are top-1 correctness, which is not what AUC averages
    description="ROC AUC of P(yes), the softmax of the candidates' scores; x100. Per-sample: top-1 correct.",
)
def score_roc_auc(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    _check(predictions, targets)
    positive = "yes"
    probabilities = [p.probability(positive) for p in predictions]
    labels = [t["label"] == positive for t in targets]
    correct = [float(p.top == t["label"]) for p, t in zip(predictions, targets, strict=True)]
    return MetricResult(
        value=100 * roc_auc(labels, probabilities),
        per_sample=correct,
        extra={"accuracy": 100 * sum(correct) / len(correct)},
        resample=_auc_resampler(labels, probabilities),
    )


def _auc_resampler(labels: Sequence[bool], probabilities: Sequence[float]) -> Resampler:
    label_array, probability_array = np.asarray(labels), np.asarray(probabilities)

    def resample(idx: np.ndarray) -> np.ndarray:
        values = []
        for row in idx:
            sample_labels = label_array[row]
            if sample_labels.all() or not sample_labels.any():
                values.append(np.nan)  # a resample with one class has no AUC
            else:
                values.append(100 * roc_auc(sample_labels.tolist(), probability_array[row].tolist()))
        return np.asarray(values)

    return resample
