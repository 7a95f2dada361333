"""``fseval score``: score predictions made elsewhere, in the benchmark's standard results format."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fseval.data.base import read_json, require
from fseval.data.task_data import load_task_data
from fseval.errors import DataError
from fseval.metrics import get_metric
from fseval.metrics.classification import Ranked
from fseval.tasks.spec import load_tasks


def _text(key: str) -> Callable[[Mapping[str, Any], Path, str], Any]:
    def read(record: Mapping[str, Any], path: Path, where: str) -> str:
        value = require(record, key, path, where)
        if not isinstance(value, str):
            raise DataError(f"{path}: {where} field {key!r} should be a string.")
        return value

    return read


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _label(record: Mapping[str, Any], path: Path, where: str) -> Ranked:
    if "scores" in record:
        scores = record["scores"]
        if not isinstance(scores, Mapping) or not scores or not all(map(_number, scores.values())):
            raise DataError(f"{path}: {where} field 'scores' should map class names to finite numbers.")
        return Ranked.from_scores({str(k): float(v) for k, v in scores.items()})
    return Ranked((_text("label")(record, path, where),), (0.0,))


def _probability(record: Mapping[str, Any], path: Path, where: str) -> Ranked:
    # Only the order of P(yes) matters for ROC AUC, so the two scores may be the probabilities themselves.
    p = require(record, "score", path, where)
    if not _number(p) or not 0 <= p <= 1:
        raise DataError(f"{path}: {where} field 'score' should be P(yes), a number from 0 to 1, not {p!r}.")
    return Ranked.from_scores({"yes": float(p), "no": 1 - float(p)})


# Each metric's standard results format: the id key, how to read one prediction, and its shape.
RESULT_FORMATS: dict[str, tuple[str, Callable[[Mapping[str, Any], Path, str], Any], str]] = {
    "vqa_accuracy": ("question_id", _text("answer"), '[{"question_id", "answer"}]'),
    "caption": ("image_id", _text("caption"), '[{"image_id", "caption"}]'),
    "exact_match": ("question_id", _text("answer"), '[{"question_id", "answer"}]'),
    "accuracy": ("id", _label, '[{"id", "label"}] or [{"id", "scores": {class: log-likelihood}}]'),
    "roc_auc": ("id", _probability, '[{"id", "score"}] with score = P(yes)'),
}


def read_predictions(path: Path, metric: str) -> dict[Any, Any]:
    id_key, read, shape = RESULT_FORMATS[metric]
    if not path.is_file():
        raise DataError(f"Predictions file {path} does not exist.")
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path} should be a JSON list: {shape}.")
    if not records:
        raise DataError(f"{path} holds no predictions.", hint=f"Its shape: {shape}.")
    predictions: dict[Any, Any] = {}
    for i, record in enumerate(records):
        key = require(record, id_key, path, f"item {i}")
        if not isinstance(key, int | str) or isinstance(key, bool):
            raise DataError(f"{path}: item {i} field {id_key!r} should be a number or a string, not {key!r}.")
        if key in predictions:
            raise DataError(f"{path}: {id_key} {key} appears more than once (item {i}).")
        predictions[key] = read(record, path, f"item {i}")
    return predictions


def score_file(
    task_name: str,
    predictions_path: Path,
    data_dir: str | None,
    metric_variant: str | None = None,
    tasks_dirs: Sequence[Path] = (),
) -> dict[str, Any]:
    """Score every prediction against the task's evaluation split, as OpenFlamingo's evaluator does.

    The official VQAv2 script scores every question of the annotation file; with a complete
    predictions file the two are the same, and ``missing`` says how many questions had none.
    """
    (task,) = load_tasks([task_name], tasks_dirs)
    metric = get_metric(task.spec.metric)
    variant = metric.check_variant(metric_variant or task.spec.metric_variant)
    id_key = RESULT_FORMATS[metric.name][0]
    predictions = read_predictions(predictions_path, metric.name)
    samples = {s.id: s for s in load_task_data(task, data_dir, None, for_scoring=True).eval}
    unknown = [key for key in predictions if key not in samples]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5]))
        kinds = {type(key).__name__ for key in samples}
        hint = "Check that the predictions and --data-dir belong to the same split."
        if type(unknown[0]).__name__ not in kinds:
            hint = f"The split's {id_key}s are of type {', '.join(sorted(kinds))}, not {type(unknown[0]).__name__}."
        raise DataError(
            f"{predictions_path}: {len(unknown)} {id_key}s are not in {task.name}'s evaluation split (e.g. {shown}).",
            hint=hint,
        )
    known = set((task.spec.rank.fixed() if task.spec.rank is not None else None) or ())
    strangers = sorted({label for p in predictions.values() if isinstance(p, Ranked) for label in p.labels} - known)
    if known and strangers:
        raise DataError(
            f"{predictions_path}: {len(strangers)} labels are not {task.name} candidates "
            f"(e.g. {', '.join(map(repr, strangers[:5]))}).",
            hint="Labels must be spelled exactly as the task's candidates (fseval tasks show NAME).",
        )
    keys = [key for key in samples if key in predictions]
    outcome = metric.score([predictions[k] for k in keys], [samples[k].fields for k in keys], variant)
    return {
        "task": task.name,
        "n": len(keys),
        "missing": len(samples) - len(keys),
        "metric_variant": variant,
        "metrics": {metric.name: outcome.value, **outcome.extra},
    }
