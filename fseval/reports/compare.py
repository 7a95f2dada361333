"""Comparing run directories: paired differences on the samples two runs share.

For each task and shot count, samples are paired when both runs evaluated the same sample id
with the same seed and the same demos; per-sample scores are averaged over a sample's seeds, and
the difference B - A is reported with a paired bootstrap 95% interval (10,000 resamples of the
shared samples) and a two-sided sign-flip permutation p-value (10,000 random sign flips of the
per-sample differences; H0: the two runs are exchangeable). Both use fixed seeds, so the figures
are reproducible. For metrics whose headline is not a per-sample mean (ROC AUC), the paired
statistics are on the per-sample scores (top-1 correctness) and say so.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fseval.errors import DataError
from fseval.metrics import METRICS
from fseval.record import RESULTS_FILE, SAMPLES_FILE, ResultRow, RunRecord, SampleRecord, read_samples

RESAMPLES = 10_000


@dataclass(frozen=True)
class Run:
    path: Path
    record: RunRecord
    samples: list[SampleRecord]
    label: str = ""  # how tables and plots name the run (``--label``; default: ``default_labels``)

    @property
    def name(self) -> str:
        return self.label or self.path.name

    def row(self, task: str, shots: int) -> ResultRow | None:
        return self.record.row(task, shots)


def load_run(path: Path) -> Run:
    if not (path / RESULTS_FILE).is_file() or not (path / SAMPLES_FILE).is_file():
        raise DataError(f"{path} is not a run directory (it needs {RESULTS_FILE} and {SAMPLES_FILE}).")
    return Run(path, RunRecord.load(path), read_samples(path))


@dataclass
class Paired:
    """The paired comparison of run B against run A for one (task, shots)."""

    task: str
    shots: int
    metric: str
    means: list[float | None]
    n_shared: int = 0
    paired: bool = True  # False: no shared samples (other seeds or demos), each run resampled on its own
    difference: float = float("nan")
    ci95: tuple[float, float] = (float("nan"), float("nan"))
    p_value: float = float("nan")
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    not_scored: str = ""  # why either run has no score to compare ("labels withheld")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN (nothing to compare) becomes null."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return {key: clean(value) for key, value in vars(self).items()}


def _scores(run: Run, task: str, shots: int) -> dict[tuple[str, int], tuple[str, float]]:
    """(sample id, seed) -> (its demo ids, its score), for scored samples."""
    return {
        (json.dumps(line.id), line.seed): (json.dumps(line.demo_ids), float(line.score))
        for line in run.samples
        if line.task == task and line.shots == shots and line.score is not None
    }


def shared_scores(a: Run, b: Run, task: str, shots: int) -> tuple[np.ndarray, np.ndarray]:
    """Per shared sample (same id, seed and demos), each run's score averaged over the sample's seeds."""
    scores_a, scores_b = _scores(a, task, shots), _scores(b, task, shots)
    by_sample: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key in sorted(set(scores_a) & set(scores_b)):
        (demos_a, score_a), (demos_b, score_b) = scores_a[key], scores_b[key]
        if demos_a == demos_b:
            by_sample[key[0]].append((score_a, score_b))
    pairs = [np.mean(values, axis=0) for _, values in sorted(by_sample.items())]
    matrix = np.array(pairs).reshape(-1, 2)
    return matrix[:, 0], matrix[:, 1]


def paired_statistics(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, tuple[float, float], float]:
    """Mean difference (x100), its paired bootstrap 95% interval and the sign-flip p-value."""
    diff = b - a
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    boot = np.empty(RESAMPLES)
    flips = np.empty(RESAMPLES)
    for start in range(0, RESAMPLES, 500):
        rows = min(500, RESAMPLES - start)
        boot[start : start + rows] = diff[rng.integers(0, len(diff), size=(rows, len(diff)))].mean(axis=1)
        signs = rng.choice([-1.0, 1.0], size=(rows, len(diff)))
        flips[start : start + rows] = (signs * diff).mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    # The observed assignment is one of the permutations; counting it keeps p > 0.
    p_value = (1 + np.sum(np.abs(flips) >= abs(observed) - 1e-12)) / (RESAMPLES + 1)
    return 100 * observed, (100 * float(low), 100 * float(high)), float(p_value)


def all_scores(run: Run, task: str, shots: int) -> np.ndarray:
    """Every scored sample of a (task, shots), over all trials."""
    return np.array([score for _, score in _scores(run, task, shots).values()], dtype=float)


def unpaired_statistics(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, tuple[float, float], float]:
    """Mean difference (x100), a bootstrap 95% interval resampling each run on its own, and a
    permutation p-value (the runs' samples pooled and re-split): for runs that share no sample."""
    observed = float(b.mean() - a.mean())
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([a, b])
    boot = np.empty(RESAMPLES)
    shuffled = np.empty(RESAMPLES)
    for start in range(0, RESAMPLES, 500):
        rows = min(500, RESAMPLES - start)
        boot[start : start + rows] = b[rng.integers(0, len(b), size=(rows, len(b)))].mean(axis=1) - a[
            rng.integers(0, len(a), size=(rows, len(a)))
        ].mean(axis=1)
        order = rng.permuted(np.broadcast_to(pooled, (rows, len(pooled))), axis=1)
        shuffled[start : start + rows] = order[:, len(a) :].mean(axis=1) - order[:, : len(a)].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    p_value = (1 + np.sum(np.abs(shuffled) >= abs(observed) - 1e-12)) / (RESAMPLES + 1)
    return 100 * observed, (100 * float(low), 100 * float(high)), float(p_value)


def default_labels(runs: list[Run]) -> list[str]:
    """Names that tell the runs apart: the folder, else model and seed, else both, else a number."""
    folders = [run.path.name for run in runs]
    if len(set(folders)) == len(runs):
        return folders
    described = [
        f"{Path(str(run.record.config.get('model', '?'))).name} seed {run.record.config.get('seed')}" for run in runs
    ]
    if len(set(described)) == len(runs):
        return described
    both = [f"{folder} ({description})" for folder, description in zip(folders, described, strict=True)]
    return both if len(set(both)) == len(runs) else [f"{i + 1}: {label}" for i, label in enumerate(both)]


def fairness_warnings(a: Run, b: Run, task: str) -> list[str]:
    """Differences that make a comparison of ``task`` unfair."""
    warnings = []
    info_a, info_b = a.record.tasks.get(task, {}), b.record.tasks.get(task, {})
    for key, label in (("version", "task version"), ("prompt", "prompt")):
        if info_a.get(key) != info_b.get(key):
            warnings.append(f"{label} differs")
    config_a, config_b = a.record.config, b.record.config
    for key, label in (
        ("demos", "demo selection"),
        ("seed", "seed"),
        ("trials", "number of trials"),
        ("zero_shot_text_demos", "0-shot convention"),
        ("prompt_ensembles", "prompt ensembling"),
    ):
        if key == "prompt_ensembles" and {info_a.get("mode"), info_b.get("mode")} == {"generate"}:
            continue  # ensembling only touches rank tasks (a run from before modes were recorded still warns)
        if config_a.get(key) != config_b.get(key):
            warnings.append(f"{label} differs ({config_a.get(key)} vs {config_b.get(key)})")
    variants_a = {r.metric_variant for r in a.record.results.get(task, [])}
    variants_b = {r.metric_variant for r in b.record.results.get(task, [])}
    if variants_a != variants_b:
        warnings.append(f"metric variant differs ({', '.join(sorted(variants_a))} vs {', '.join(sorted(variants_b))})")
    return warnings


def check_comparable(base: Run, other: Run) -> None:
    """Two runs can be compared only on a task both have results for."""
    if set(base.record.results) & set(other.record.results):
        return

    def holds(run: Run) -> str:
        tasks = ", ".join(run.record.results)
        return f"{run.name} ({run.path}) has {'results for ' + tasks if tasks else 'no results'}"

    raise DataError(
        f"{other.name} and {base.name} have no task in common: {holds(base)}; {holds(other)}.",
        hint="Compare runs of the same task (fseval show RUN lists what a run holds).",
    )


def compare(base: Run, other: Run) -> list[Paired]:
    """``other`` against ``base`` for every (task, shots) in ``base``; runs with no task in common are refused."""
    check_comparable(base, other)
    comparisons = []
    for task, rows in base.record.results.items():
        warnings = fairness_warnings(base, other, task) if task in other.record.results else ["task missing"]
        for row in rows:
            other_row = other.row(task, row.shots)
            paired = Paired(task, row.shots, row.metric, [row.mean, other_row.mean if other_row else None])
            paired.warnings = list(warnings)
            paired.not_scored = row.not_scored or (other_row.not_scored if other_row is not None else "")
            if paired.not_scored:  # predictions without labels: nothing to compare
                comparisons.append(paired)
                continue
            if paired.metric in METRICS and not METRICS[paired.metric].per_sample_mean:
                paired.note = (
                    f"B - A, its interval and p compare the per-sample scores (top-1 correctness), not {paired.metric}"
                )
            a, b = shared_scores(base, other, task, row.shots)
            paired.n_shared = len(a)
            if len(a):
                paired.difference, paired.ci95, paired.p_value = paired_statistics(a, b)
            elif other_row is not None:
                a, b = all_scores(base, task, row.shots), all_scores(other, task, row.shots)
                if len(a) and len(b):
                    paired.paired = False
                    paired.difference, paired.ci95, paired.p_value = unpaired_statistics(a, b)
                paired.warnings.append("no shared samples (same ids, seeds and demos): unpaired comparison")
            comparisons.append(paired)
    return comparisons
