"""Whether a run finished: the (task, shots) rows and trials it set out to record, against those it has.

A run writes its options to ``results.json`` before any work (``config``: ``tasks``, ``shots``,
``trials``) and a (task, shots) row once all its trials are done, so a run stopped part way lacks
rows, and a results file merged or edited by hand may hold rows with fewer trials than it asked
for. Where the run took each task's own shot list (``shots`` null), the list is the one the task
recorded, else the one its task file gives (the file the run read, or the task of that name);
where neither can be read, only the rows the run recorded are checked. ``fseval show``, ``compare``,
``plot`` and ``report`` all say what is missing from here.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fseval.record import RunRecord


@dataclass(frozen=True)
class Shortfall:
    """A (task, shots) with fewer trials than the run asked for (none: its row is missing)."""

    task: str
    shots: int
    trials: int
    expected: int


def describe(shortfalls: Sequence[Shortfall]) -> str:
    """One task's shortfalls: ``4-, 16-shot missing, 8-shot has 1 of 3 trials``."""
    missing = [s.shots for s in shortfalls if s.trials == 0]
    parts = ["-, ".join(map(str, missing)) + "-shot missing"] if missing else []
    parts += [f"{s.shots}-shot has {s.trials} of {s.expected} trials" for s in shortfalls if s.trials]
    return ", ".join(parts)


@dataclass(frozen=True)
class Completeness:
    run_dir: Path
    shortfalls: tuple[Shortfall, ...] = ()
    unknown: tuple[str, ...] = ()  # tasks with no results whose shot list cannot be known
    running: bool = False  # another fseval process is writing the run now

    @property
    def complete(self) -> bool:
        return not self.shortfalls and not self.unknown

    def missing(self) -> str:
        """``vqav2 4-shot missing, 8-shot has 1 of 3 trials; okvqa has no results``."""
        parts = []
        for task in dict.fromkeys([s.task for s in self.shortfalls]):
            parts.append(f"{task} {describe([s for s in self.shortfalls if s.task == task])}")
        parts += [f"{task} has no results" for task in self.unknown]
        return "; ".join(parts)

    def message(self) -> str:
        """One line for a user: what is missing and how to finish it ("" for a complete run)."""
        if self.complete:
            return ""
        if self.running:
            return f"incomplete: {self.missing()} (an fseval run is writing it now)"
        return f"incomplete: {self.missing()} (finish it: fseval run --resume {shlex.quote(str(self.run_dir))})"


def completeness(record: RunRecord, run_dir: Path) -> Completeness:
    """What ``record`` (the results.json of ``run_dir``) lacks of the rows and trials its run set out to make."""
    config = record.config
    trials = config.get("trials")
    expected = trials if isinstance(trials, int) else 1
    tasks = [str(task) for task in config.get("tasks") or record.results]
    shortfalls: list[Shortfall] = []
    unknown: list[str] = []
    for task in tasks:
        recorded = {row.shots: len(row.trials) for row in record.results.get(task, [])}
        shots = intended_shots(record, task)
        if shots is None and not recorded:
            unknown.append(task)
        for count in shots if shots is not None else sorted(recorded):
            if recorded.get(count, 0) < expected:
                shortfalls.append(Shortfall(task, count, recorded.get(count, 0), expected))
    found = Completeness(run_dir, tuple(shortfalls), tuple(unknown))
    if found.complete:
        return found
    return Completeness(run_dir, found.shortfalls, found.unknown, is_being_written(run_dir))


def intended_shots(record: RunRecord, task: str) -> list[int] | None:
    """The shot counts the run meant to evaluate ``task`` at, or None where they cannot be known."""
    for given in (record.config.get("shots"), record.tasks.get(task, {}).get("shots")):
        shots = shot_list(given)
        if shots is not None:
            return shots
    if "shots" not in record.config:
        return None  # not an fseval run's options (OpenFlamingo's results file): nothing to go by
    spec = task_file(record, task)
    return task_file_shots(spec) if spec is not None else None


def shot_list(value: Any) -> list[int] | None:
    """``value`` if it is a list of shot counts (what results.json holds when they were given)."""
    if not isinstance(value, list) or not value:
        return None
    return list(dict.fromkeys(value)) if all(type(n) is int and n >= 0 for n in value) else None


def task_file(record: RunRecord, task: str) -> Path | None:
    """The task file the run read (as recorded), else the one of that name it would find now."""
    from fseval.tasks.spec import TASKS_ENV, discover

    cwd = Path(str(record.config.get("cwd") or "."))
    recorded = record.tasks.get(task, {}).get("spec")
    if recorded:
        return cwd / str(recorded)  # an absolute recorded path stays as it is
    dirs = [cwd / str(folder) for folder in record.config.get("tasks_dirs") or []]
    return discover(TASKS_ENV, "tasks", dirs).get(task)


def task_file_shots(path: Path) -> list[int] | None:
    """The ``shots`` of a task file (the default list where it gives none); None where it cannot be read."""
    import yaml

    from fseval.tasks.spec import TaskSpec

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(spec, dict):
        return None
    if "shots" not in spec:
        default: list[int] = TaskSpec.model_fields["shots"].get_default(call_default_factory=True)
        return default
    return shot_list(spec["shots"])


def is_being_written(run_dir: Path) -> bool:
    from fseval.record import being_written

    try:
        return run_dir.is_dir() and being_written(run_dir)
    except OSError:
        return False
