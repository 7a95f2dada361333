"""The resumable store: every finished sample, committed to SQLite as its batch completes.

A run killed at any point (even ``kill -9``) loses at most the batch in flight: SQLite commits
are atomic, so a sample is either stored whole or not at all. ``fseval run --resume RUN_DIR``
recomputes only the samples the store lacks and rebuilds ``samples.jsonl`` and
``results.json`` from it, so the resumed run's files equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from fseval.record import SampleRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    task TEXT NOT NULL,
    shots INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    sample_key TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (task, shots, seed, sample_key)
)
"""


def sample_key(sample_id: int | str) -> str:
    """JSON keeps ids 1 and "1" apart."""
    return json.dumps(sample_id)


class SampleStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def put(self, records: Iterable[SampleRecord]) -> None:
        rows = [(r.task, r.shots, r.seed, sample_key(r.id), json.dumps(asdict(r), ensure_ascii=False)) for r in records]
        with self._db:  # one transaction: the whole batch or none of it
            self._db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?)", rows)

    def finished(self, task: str, shots: int, seed: int) -> dict[str, SampleRecord]:
        cursor = self._db.execute(
            "SELECT sample_key, record FROM samples WHERE task = ? AND shots = ? AND seed = ?", (task, shots, seed)
        )
        return {key: SampleRecord(**json.loads(record)) for key, record in cursor}

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def close(self) -> None:
        self._db.close()
