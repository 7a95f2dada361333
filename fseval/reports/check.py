"""Regression gates: a run's scores against a committed baseline file.

A baseline records, per task and shot count, the metric, its mean and its bootstrap 95%
interval. ``fseval check`` fails a (task, shots) whose mean falls below the baseline mean by more
than the tolerance: by default ``EXACT`` (1e-6 points: a deterministic run of the same model,
data and options reproduces its baseline), ``--tolerance X`` points, or ``--tolerance ci``, the
half-width of the baseline's 95% interval (at least 0.01), for runs that are expected to move
within the noise. A score measured with another metric variant or over another number of samples
fails as not comparable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fseval.errors import DataError
from fseval.outputs import output_file, write_atomic
from fseval.record import ResultRow
from fseval.reports.compare import Run

BASELINE_FORMAT = 1
MIN_TOLERANCE = 0.01
EXACT = 1e-6
OPTION = "--write-baseline"


@dataclass(frozen=True)
class Verdict:
    task: str
    shots: int
    metric: str
    baseline: float
    score: float | None
    tolerance: float
    mismatch: str | None = None  # why the run's score does not measure what the baseline did
    not_scored: str = ""  # why the run's row has no score ("labels withheld")

    @property
    def passed(self) -> bool:
        return self.score is not None and self.mismatch is None and self.score >= self.baseline - self.tolerance


def baseline_from_run(run: Run) -> dict[str, Any]:
    tasks: dict[str, dict[str, Any]] = {}
    for task, rows in run.record.results.items():
        tasks[task] = {
            str(row.shots): {
                "metric": row.metric,
                "metric_variant": row.metric_variant,
                "mean": row.mean,
                "ci95": list(row.ci95),
                "n": row.n,
            }
            for row in rows
            if not row.not_scored  # a split without labels has no score to gate
        }
    tasks = {task: rows for task, rows in tasks.items() if rows}  # a task with no scored row has nothing to gate
    return {"fseval_baseline": BASELINE_FORMAT, "source": str(run.path), "model": run.record.model, "tasks": tasks}


def write_baseline(run: Run, path: Path) -> dict[str, Any]:
    """Create the baseline, or update the (task, shots) entries this run has; written whole or not at all."""
    output_file(path, OPTION)  # a folder, a read-only place: said before an existing file is read
    baseline = read_baseline(path) if path.exists() else {"tasks": {}}
    fresh = baseline_from_run(run)
    unscored = [
        f"{task} at {shots} shots"
        for task, rows in fresh["tasks"].items()
        for shots, entry in rows.items()
        if math.isnan(entry["mean"])
    ]
    if unscored:
        raise DataError(
            f"{run.path} has no score for {', '.join(unscored)} (every sample failed).",
            hint="Fix the run (see the errors in its samples.jsonl) before making it a baseline.",
        )
    for task, rows in fresh["tasks"].items():
        baseline["tasks"].setdefault(task, {}).update(rows)
    merged = {**fresh, "tasks": baseline["tasks"]}
    write_atomic(path, json.dumps(merged, indent=2) + "\n", OPTION)
    return merged


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        baseline = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        hint = "Create one with fseval check RUN --write-baseline FILE."
        raise DataError(f"Cannot read baseline {path}: {e}", hint=hint) from e
    if not isinstance(baseline, dict) or baseline.get("fseval_baseline") != BASELINE_FORMAT:
        raise DataError(f"{path} is not an fseval baseline (field 'fseval_baseline' should be {BASELINE_FORMAT}).")
    return baseline


def default_tolerance(entry: dict[str, Any]) -> float:
    low, high = entry.get("ci95") or (math.nan, math.nan)
    half_width = (high - low) / 2 if low is not None and high is not None else math.nan
    return MIN_TOLERANCE if math.isnan(half_width) else max(half_width, MIN_TOLERANCE)


def check(run: Run, baseline: dict[str, Any], tolerance: float | str = EXACT) -> list[Verdict]:
    """One verdict per baseline entry; ``tolerance`` is points, or ``"ci"`` for each entry's interval half-width."""
    verdicts = []
    for task, rows in baseline["tasks"].items():
        for shots, entry in rows.items():
            row = run.row(task, int(shots))
            allowed = default_tolerance(entry) if tolerance == "ci" else float(tolerance)
            not_scored = row.not_scored if row is not None else ""
            score = row.mean if row is not None and row.metric == entry["metric"] and not not_scored else None
            mismatch = differs(entry, row) if row is not None and score is not None else None
            verdict = Verdict(task, int(shots), entry["metric"], entry["mean"], score, allowed, mismatch, not_scored)
            verdicts.append(verdict)
    return verdicts


def differs(entry: dict[str, Any], row: ResultRow) -> str | None:
    """A gate compares like with like: the same metric variant over the same number of samples."""
    found = []
    if entry.get("metric_variant") not in (None, row.metric_variant):
        found.append(f"metric variant {row.metric_variant} (baseline {entry['metric_variant']})")
    if entry.get("n") not in (None, row.n):
        found.append(f"n {row.n} (baseline {entry['n']})")
    return "; ".join(found) or None
