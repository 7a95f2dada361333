"""A run's scores as flat rows, for pasting into papers and issue trackers (``fseval show --format``)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from fseval.record import RunRecord

COLUMNS = (
    "task",
    "shots",
    "metric",
    "metric_variant",
    "group",
    "mean",
    "stddev",
    "ci95_low",
    "ci95_high",
    "n",
    "failed",
)


def rows(record: RunRecord, breakdown: bool = False) -> list[dict[str, Any]]:
    """One row per (task, shots), then, with ``breakdown``, one per group (``group`` = "field=value")."""
    out = []
    for task, row in record.rows():
        base = {"task": task, "shots": row.shots, "metric": row.metric, "metric_variant": row.metric_variant}
        out.append(
            {
                **base,
                "group": "",
                "mean": f"not scored: {row.not_scored}" if row.not_scored else row.mean,
                "stddev": row.stddev,
                "ci95_low": row.ci95[0],
                "ci95_high": row.ci95[1],
                "n": row.n,
                "failed": row.failed,
            }
        )
        if breakdown:
            for field, groups in row.breakdown.items():
                for key, group in groups.items():
                    out.append({**base, "group": f"{field}={key}", "mean": group.mean, "n": group.n})
    return [{column: item.get(column, "") for column in COLUMNS} for item in out]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def to_markdown(table: list[dict[str, Any]]) -> str:
    shown = [c for c in COLUMNS if any(row[c] != "" for row in table)]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in shown) + " |" for row in table]
    return "\n".join(lines)


def to_csv(table: list[dict[str, Any]]) -> str:
    """Full precision (the numbers as results.json has them)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def to_json(record: RunRecord, breakdown: bool = False) -> str:
    """The ``results`` block (with each row's breakdown when asked), NaN as null."""
    results = {
        task: [row.model_dump(exclude=set() if breakdown else {"breakdown"}) for row in task_rows]
        for task, task_rows in record.results.items()
    }
    return json.dumps(nan_to_none(results), indent=2)


def nan_to_none(value: Any) -> Any:
    """NaN as null, everywhere in ``value``: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    return value
