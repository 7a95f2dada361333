"""``results.json``, typed: what a run writes and what every reader of a run directory reads.

    {"fseval_version", "created", "model": {...}, "config": {...}, "provenance": {...},
     "tasks": {task: {...}}, "results": {task: [{"shots", "trials", "mean", "stddev", ...}]}}

The ``results`` block keeps OpenFlamingo's results-file shape (task -> rows of ``shots``,
``trials``, ``mean``, ``stddev``), so existing tooling reads it; the rest is fseval's provenance.
``RunRecord.load`` and ``RunRecord.save`` are the only places the file is read and written;
unknown keys (a newer fseval's) are kept.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from fseval.errors import DataError

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"


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
