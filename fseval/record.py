"""The run directory, typed: what a run writes and what every reader of a run directory reads.

``results.json`` (``RunRecord``), one ``SampleRecord`` per line of ``samples.jsonl`` (``read_samples``),
and what can be asked of a directory without reading it whole: how many samples its store holds,
whether a run is writing it now.

    {"fseval_version", "created", "model": {...}, "config": {...}, "provenance": {...},
     "tasks": {task: {...}}, "results": {task: [{"shots", "trials", "mean", "stddev", ...}]}}

The ``results`` block keeps OpenFlamingo's results-file shape (task -> rows of ``shots``,
``trials``, ``mean``, ``stddev``), so existing tooling reads it; the rest is fseval's provenance.
``RunRecord.load`` and ``RunRecord.save`` are the only places the file is read and written;
unknown keys (a newer fseval's) are kept.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from fseval.errors import DataError

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
STORE_FILE = "store.sqlite"


class GroupRow(BaseModel):
    """One group of a breakdown field (``answer_type: number``): its score per trial and their mean."""

    model_config = ConfigDict(extra="allow")

    mean: float = math.nan
    trials: list[float] = []
    n: int = 0  # samples of the group scored per trial (the fewest)
    extra: dict[str, list[float]] = {}  # other metrics of the group per trial (captions: BLEU, METEOR ...)


class ResultRow(BaseModel):
    """One (task, shots): its trials' scores and how they were measured."""

    model_config = ConfigDict(extra="allow")

    shots: int
    trials: list[float]
    mean: float
    stddev: float
    ci95: tuple[float, float] = (math.nan, math.nan)
    n: int = 0  # samples scored per trial (the fewest, where trials differ)
    failed: int = 0  # samples that failed per trial (the most)
    n_per_trial: list[int] | None = None
    failed_per_trial: list[int] | None = None
    metric: str = ""
    metric_variant: str = ""
    seeds: list[int] = []
    extra: dict[str, float] = {}
    breakdown: dict[str, dict[str, GroupRow]] = {}  # field -> group -> its score (the task's breakdown fields)
    not_scored: str = ""  # why the row has predictions but no score ("labels withheld": a test server's split)

    def per_trial(self, key: str) -> list[int]:
        """``n`` or ``failed`` of each trial (files from before they were recorded per trial: the one value)."""
        values: list[int] | None = getattr(self, f"{key}_per_trial")
        return values if values is not None else [getattr(self, key)]


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    fseval_version: str = ""
    created: str = ""
    model: dict[str, Any] = {}
    config: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    tasks: dict[str, dict[str, Any]] = {}
    results: dict[str, list[ResultRow]] = {}

    def row(self, task: str, shots: int) -> ResultRow | None:
        return next((row for row in self.results.get(task, []) if row.shots == shots), None)

    def rows(self) -> list[tuple[str, ResultRow]]:
        return [(task, row) for task, rows in self.results.items() for row in rows]

    @classmethod
    def load(cls, directory: Path) -> RunRecord:
        """A run directory's ``results.json``; a missing or malformed one is a ``DataError`` naming it."""
        path = directory / RESULTS_FILE
        if not directory.exists():
            raise DataError(
                f"{directory} does not exist.", hint=f"Give a run directory (a folder holding {RESULTS_FILE})."
            )
        if not path.is_file():
            raise DataError(f"{directory} is not a run directory: it has no {RESULTS_FILE}.")
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path} cannot be read: {error}.", hint="Was the run copied whole?") from None
        except ValidationError as error:
            where = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'the top level'}: {e['msg']}" for e in error.errors()[:5]
            )
            raise DataError(f"{path} is not an fseval results file ({where}).") from None

    def save(self, directory: Path) -> None:
        """Written whole and renamed into place, so a reader never sees half a file."""
        tmp = directory / f"{RESULTS_FILE}.tmp"
        try:
            tmp.write_text(json.dumps(self.model_dump(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            os.replace(tmp, directory / RESULTS_FILE)
        except BaseException:  # a full disk, Ctrl-C: the previous results.json stays, and no half file beside it
            tmp.unlink(missing_ok=True)
            raise


@dataclass
class SampleRecord:
    """One line of samples.jsonl: a (task, shots, seed, sample) and everything needed to audit it."""

    task: str
    shots: int
    seed: int
    trial: int
    id: int | str
    demo_ids: list[int | str]
    prompt: str
    media: list[str]
    generation: str | None = None
    prediction: str | None = None
    targets: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    error: str | None = None
    ranking: list[list[Any]] | None = None  # rank tasks: the top 5 candidates, [label, score] best first
    scores: list[float] | None = None  # rank tasks: every candidate's score, in the task's candidate order
    model_prompt: str | None = None  # the prompt as the model's tokenizer received it, where the model rewrites it
    groups: dict[str, str] = field(default_factory=dict)  # the task's breakdown fields: field -> this sample's group


def read_samples(directory: Path) -> list[SampleRecord]:
    """A run directory's ``samples.jsonl``, typed; a missing or malformed file is a ``DataError`` naming the line."""
    path = directory / SAMPLES_FILE
    if not path.is_file():
        raise DataError(f"{directory} is not a run directory: it has no {SAMPLES_FILE}.")
    known = {f.name for f in fields(SampleRecord)}
    samples, number = [], 0
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):  # noqa: B007 (the error names the line)
                if line.strip():
                    values = json.loads(line)
                    samples.append(SampleRecord(**{k: v for k, v in values.items() if k in known}))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, AttributeError) as error:
        hint = "Was the run copied whole?"
        raise DataError(f"{path}: cannot read its samples (line {number}: {error}).", hint=hint) from None
    return samples


def stored_samples(directory: Path) -> int:
    """Samples in a run directory's store (0 for none, or no store): a run that stored none holds nothing."""
    path = directory / STORE_FILE
    if not path.is_file():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.Error:
        return 1  # unreadable: treat as a run rather than overwrite it


def being_written(directory: Path) -> bool:
    """Whether another fseval process holds ``directory`` (its run lock), checked without taking it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, no check
        return False
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing drops the probe's lock
    return False
