"""``fseval score``: score predictions made elsewhere, in the benchmark's standard results format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fseval.data.base import read_json, require
from fseval.errors import DataError
from fseval.metrics import get_metric
from fseval.runner import load_task_data
from fseval.tasks import load_tasks

# The id and answer keys of each metric's standard results format (VQA: [{"question_id", "answer"}]).
RESULT_KEYS = {"vqa_accuracy": ("question_id", "answer")}


def read_predictions(path: Path, id_key: str, answer_key: str) -> dict[Any, str]:
    if not path.is_file():
        raise DataError(f"Predictions file {path} does not exist.")
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path} should be a JSON list of {{{id_key!r}, {answer_key!r}}} objects.")
    predictions: dict[Any, str] = {}
    for i, record in enumerate(records):
        key = require(record, id_key, path, f"item {i}")
        if key in predictions:
            raise DataError(f"{path}: {id_key} {key} appears more than once (item {i}).")
        answer = require(record, answer_key, path, f"item {i}")
        if not isinstance(answer, str):
            raise DataError(f"{path}: item {i} field {answer_key!r} should be a string.")
        predictions[key] = answer
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
    id_key, answer_key = RESULT_KEYS[metric.name]
    predictions = read_predictions(predictions_path, id_key, answer_key)
    samples = {s.id: s for s in load_task_data(task, data_dir, None, for_scoring=True).eval}
    unknown = [key for key in predictions if key not in samples]
    if unknown:
        shown = ", ".join(map(str, unknown[:5]))
        raise DataError(
            f"{predictions_path}: {len(unknown)} {id_key}s are not in {task.name}'s evaluation split (e.g. {shown}).",
            hint="Check that the predictions and --data-dir belong to the same split.",
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
