"""Writing the run directory: holding it (``RunDirClaim``), ``results.json`` and ``samples.jsonl`` (``RunWriter``).

``samples.jsonl`` is appended and flushed trial by trial and ``results.json`` is rewritten
atomically after every (task, shots), so an interrupted run keeps everything it finished (the
store, ``run/store.py``, keeps every finished batch). What the files hold, and every reader of
them, is in ``fseval/record.py``.
The ``results`` block keeps OpenFlamingo's results-file shape (task -> list of
``{"shots", "trials", "mean", "stddev"}``) so existing tooling reads it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fseval import __version__
from fseval.errors import FsevalError, plural
from fseval.metrics.breakdown import Breakdown
from fseval.metrics.stats import Resampler, bootstrap_ci
from fseval.record import (
    RESULTS_FILE,
    SAMPLES_FILE,
    GroupRow,
    ResultRow,
    RunRecord,
    SampleRecord,
    stored_samples,
)


@dataclass
class TrialResult:
    """One trial's score; ``resampler`` recomputes it on bootstrap resamples of its samples."""

    seed: int
    value: float
    extra: dict[str, float]
    n: int
    failed: int
    resampler: Resampler = field(repr=False)
    groups: Breakdown = field(default_factory=dict)
    not_scored: str = ""  # why the trial has predictions but no score (NOT_SCORED: its labels are withheld)


NOT_SCORED = "labels withheld"


@dataclass
class ShotResult:
    """All trials of one (task, shots)."""

    shots: int
    metric: str
    metric_variant: str
    trials: list[TrialResult]

    def row(self) -> ResultRow:
        values = [t.value for t in self.trials]
        scored = [v for v in values if not math.isnan(v)]  # a trial whose every sample failed has no score
        low, high = bootstrap_ci([(t.resampler, t.n) for t in self.trials if not t.not_scored])  # none: NaNs
        extra_keys = sorted({k for t in self.trials for k in t.extra})
        n, failed = [t.n for t in self.trials], [t.failed for t in self.trials]
        return ResultRow(
            shots=self.shots,
            trials=values,
            mean=statistics.fmean(scored) if scored else math.nan,
            # Population standard deviation over trials, as OpenFlamingo reports (np.nanstd).
            stddev=statistics.pstdev(scored) if scored else math.nan,
            ci95=(low, high),
            # Per trial: they differ only when a demo fails to load in some trials and not in others.
            n=min(n),
            failed=max(failed),
            n_per_trial=n,
            failed_per_trial=failed,
            metric=self.metric,
            metric_variant=self.metric_variant,
            seeds=[t.seed for t in self.trials],
            extra={k: statistics.fmean(t.extra[k] for t in self.trials if k in t.extra) for k in extra_keys},
            breakdown=self.breakdown(),
            not_scored=self.trials[0].not_scored if self.trials else "",
        )

    def breakdown(self) -> dict[str, dict[str, GroupRow]]:
        """Each group's score per trial and its mean over trials (nan trials aside)."""
        out: dict[str, dict[str, GroupRow]] = {}
        for trial in self.trials:
            for name, groups in trial.groups.items():
                for key, score in groups.items():
                    row = out.setdefault(name, {}).setdefault(key, GroupRow(trials=[], n=score.n))
                    row.trials.append(score.value)
                    row.n = min(row.n, score.n)
                    for metric, value in score.extra.items():
                        row.extra.setdefault(metric, []).append(value)
        for rows in out.values():
            for row in rows.values():
                scored = [v for v in row.trials if not math.isnan(v)]
                row.mean = statistics.fmean(scored) if scored else math.nan
        return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "open_clip_torch", "datasets", "pycocoevalcap"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def model_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How the model resuming a run differs from the one that made its stored samples.

    Where files live may change (a moved checkpoint), and so may the device and library versions;
    anything else (weights' hash, LM type, precision, the mock's mode ...) means another model. The
    files' content is compared before any weights load (``preflight.model_file_problems``).
    """
    volatile = {"arguments", "path", "device", "repo_id", "revision", "transformers_version", "torch_version", "files"}
    volatile.add("usage")  # a served model's tokens billed so far
    if saved.get("family") != current.get("family"):
        return [f"family: {saved.get('family')!r} -> {current.get('family')!r}"]

    def identity(description: dict[str, Any]) -> dict[str, Any]:
        arguments = {
            key: value
            for key, value in description.get("arguments", {}).items()
            if not (isinstance(value, str) and (os.sep in value or Path(value).exists()))
        }
        return {
            **{k: v for k, v in description.items() if k not in volatile},
            **{f"--model-arg {k}": v for k, v in arguments.items()},
        }

    before, after = identity(saved), identity(current)
    return [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


ERROR_LOG = "error.log"
# What a run writes into its directory; a folder holding only these, and no finished sample, is a run
# that stopped before finishing anything, which a fresh run may take over.
RUN_FILES = frozenset(
    {
        RESULTS_FILE,
        f"{RESULTS_FILE}.tmp",
        SAMPLES_FILE,
        ERROR_LOG,
        "store.sqlite",
        "store.sqlite-wal",
        "store.sqlite-shm",
    }
)


def fresh_run_problem(directory: Path) -> str | None:
    """Why a fresh run (without ``--resume``) must not write into ``directory``, or None.

    It may write into a new folder, an empty one, or a run of its own that stopped before finishing
    any sample. Anything else would be overwritten or mixed: another run's samples, the results of a
    run copied without its store, another tool's files.
    """
    if not directory.is_dir() or not any(directory.iterdir()):
        return None
    if stored_samples(directory) > 0:
        resume = f"fseval run --resume {directory}"
        return f"{directory} already holds a run (finish it with {resume}, or pick another --output)."
    names = sorted(entry.name for entry in directory.iterdir())
    foreign = [name for name in names if name not in RUN_FILES]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return f"--output {directory} holds files that are not an fseval run's ({shown}); give a new or empty folder."
    if (directory / RESULTS_FILE).is_file():
        try:
            record = RunRecord.load(directory)
        except FsevalError:
            record = None
        if record is None or not record.fseval_version:
            return f"--output {directory} holds a {RESULTS_FILE} that is not fseval's; give a new or empty folder."
        if record.results:
            return (
                f"--output {directory} holds a run's results ({plural(len(record.rows()), 'score')}) but not its store "
                "(a finished run copied without store.sqlite?); a new run would overwrite them: give a new or "
                "empty folder."
            )
    samples = directory / SAMPLES_FILE
    if samples.is_file() and samples.stat().st_size > 0:
        return f"--output {directory} holds a run's {SAMPLES_FILE} but not its store; give a new or empty folder."
    return None


class RunDirClaim:
    """Holds a run directory for one process: refuses a directory another run is writing, and a fresh
    run into a directory that already holds one (its stored samples would be taken as this run's)."""

    def __init__(self, directory: Path, resume: bool) -> None:
        self.directory, self._fd = directory, -1
        if directory.exists() and not directory.is_dir():
            raise FsevalError(f"--output {directory} is a file.", hint="Give a new or empty folder.")
        self.created = not directory.exists()  # only a folder this run made is removed again
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FsevalError(f"--output {directory} cannot be created: {error.strerror}.") from None
        try:
            self._lock()
            if not resume:
                self._check_fresh()
        except FsevalError:
            self.release()
            raise

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks, no check
            return
        self._fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FsevalError(
                f"{self.directory} is being written by another fseval run.",
                hint="Wait for it to finish (or stop it), then fseval run --resume it; or pick another --output.",
            ) from None

    def _check_fresh(self) -> None:
        problem = fresh_run_problem(self.directory)
        if problem is not None:
            raise FsevalError(problem)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1
        if self.created and self.directory.is_dir() and not any(self.directory.iterdir()):
            self.directory.rmdir()  # the run made it and stopped before writing (a model that failed to load)


class RunWriter:
    def __init__(self, directory: Path, model: dict[str, Any], config: dict[str, Any], world_size: int = 1) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.samples_path = directory / "samples.jsonl"
        self.usage: Callable[[], dict[str, int]] | None = None  # a served model's tokens so far (ModelAdapter.usage)
        # Rewritten by every run, resumed ones included: the store holds what earlier attempts finished.
        self._samples = self.samples_path.open("w", encoding="utf-8")
        self.record = RunRecord(
            fseval_version=__version__,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            model=model,
            config=config,
            provenance={
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "packages": package_versions(),
                "git_commit": git_commit(),
                "world_size": world_size,
            },
        )

    def add_samples(self, records: list[SampleRecord]) -> None:
        for record in records:
            self._samples.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        self._samples.flush()

    def add_task(self, name: str, info: dict[str, Any]) -> None:
        self.record.tasks[name] = info

    def add_result(self, task: str, result: ShotResult) -> None:
        self.record.results.setdefault(task, []).append(result.row())
        self.save()

    def save(self) -> None:
        if self.usage is not None and self.usage():
            self.record.model["usage"] = self.usage()
        self.record.save(self.directory)

    def close(self) -> None:
        self._samples.close()
