"""``fseval score``: score predictions made elsewhere (the benchmark's results formats), or rescore a run's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fseval.data.base import read_json
from fseval.errors import DataError, FsevalError, require
from fseval.metrics import get_metric
from fseval.metrics.breakdown import breakdown
from fseval.record import SampleRecord, read_samples
from fseval.tasks.ranking import stored_prediction
from fseval.tasks.spec import Task, load_tasks
from fseval.tasks.task_data import load_task_data
from fseval.types import Ranked, Sample


def read_predictions(path: Path, metric: str, samples: Sequence[Sample] = ()) -> dict[Any, Any]:
    """The predictions of a results file by sample id: the benchmark's own format, else ``metric``'s JSON list.

    ``samples`` (the evaluation split in file order) places the rows of a native file that has no ids.
    """
    result_format = get_metric(metric).result_format
    id_key, read, shape = result_format.id_key, result_format.read, result_format.shape
    if not path.is_file():
        raise DataError(f"Predictions file {path} does not exist.")
    if result_format.native is not None:
        native = result_format.native.load(path, samples)
        if native is not None:
            return native
        shape = f"{shape}, or {result_format.native.shape}"
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
    id_key = metric.result_format.id_key
    missing = metric.missing(variant)
    if missing:
        raise FsevalError(f"{task.name} cannot be scored on this machine: " + " ".join(missing))
    split = load_task_data(task, data_dir, None, for_scoring=True).eval
    predictions = read_predictions(predictions_path, metric.name, split)
    samples = {s.id: s for s in split}
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
    return _scored(task, variant, [predictions[k] for k in keys], [samples[k] for k in keys], len(samples))


def score_run(
    task_name: str,
    run_dir: Path,
    data_dir: str | None,
    metric_variant: str | None = None,
    tasks_dirs: Sequence[Path] = (),
) -> list[dict[str, Any]]:
    """Rescore each (shots, seed) of ``task_name`` in a run directory from its stored predictions.

    Rank tasks store every candidate's score, so metrics over whole rankings (RareAct's mWAP) come
    out as the run computed them; samples that failed in the run are left out, as the run left them.
    """
    (task,) = load_tasks([task_name], tasks_dirs)
    metric = get_metric(task.spec.metric)
    variant = metric.check_variant(metric_variant or task.spec.metric_variant)
    missing = metric.missing(variant)
    if missing:
        raise FsevalError(f"{task.name} cannot be scored on this machine: " + " ".join(missing))
    trials: dict[tuple[int, int], list[SampleRecord]] = {}
    for record in read_samples(run_dir):
        if record.task == task.name and record.error is None:
            trials.setdefault((record.shots, record.seed), []).append(record)
    if not trials:
        raise DataError(f"{run_dir} holds no scored samples of {task.name}.", hint="fseval show RUN_DIR lists them.")
    split = {s.id: s for s in load_task_data(task, data_dir, None, for_scoring=True).eval}
    results = []
    for (shots, seed), records in sorted(trials.items()):
        absent = [r.id for r in records if r.id not in split]
        if absent:
            raise DataError(
                f"{run_dir}: {len(absent)} of its {task.name} samples are not in the evaluation split read from "
                f"--data-dir (e.g. {absent[0]!r}).",
                hint="Give the data folder the run evaluated.",
            )
        samples = [split[r.id] for r in records]
        predictions = [stored_prediction(task, sample, r) for sample, r in zip(samples, records, strict=True)]
        results.append({"shots": shots, "seed": seed, **_scored(task, variant, predictions, samples, len(records))})
    return results


def _scored(task: Task, variant: str, predictions: list[Any], samples: list[Sample], total: int) -> dict[str, Any]:
    metric = get_metric(task.spec.metric)
    targets = [sample.fields for sample in samples]
    outcome = metric.score(predictions, targets, variant)
    groups = breakdown(metric, predictions, targets, variant, task.spec.breakdown)
    return {
        "task": task.name,
        "n": len(samples),
        "missing": total - len(samples),
        "metric_variant": variant,
        "metrics": {metric.name: outcome.value, **outcome.extra},
        "breakdown": {
            field: {key: {"score": group.value, "n": group.n, **group.extra} for key, group in members.items()}
            for field, members in groups.items()
        },
    }
