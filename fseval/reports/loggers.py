"""``fseval run --log-to tensorboard|wandb``: a finished run's scores sent to the experiment tracker in use.

Neither is a dependency: each is imported only when asked for, and a missing one is refused before
the run starts (``missing_loggers``). What is logged, from ``results.json``:

- per (task, shots): ``{task}/{metric}`` (the headline score), ``{task}/{metric}_ci95_low|high``, each
  secondary metric ``{task}/{name}``, each breakdown group ``{task}/{field}/{group}``, at step = shots;
- W&B also gets the run's options as its config, the results as a table, and the per-sample
  records (``samples.jsonl``) as a table, so predictions can be browsed there.

TensorBoard writes to ``RUN_DIR/tensorboard``; W&B uses the project in ``$WANDB_PROJECT`` (default
``fseval``) and its own settings (``WANDB_MODE=offline`` where there is no network).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fseval.record import SAMPLES_FILE, RunRecord, read_samples

LOGGERS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # name -> the package it needs
INSTALL = {"tensorboard": "pip install tensorboard", "wandb": "pip install wandb"}


def missing_loggers(names: Sequence[str]) -> list[str]:
    """Problems with ``--log-to``: unknown names, or packages that are not installed."""
    problems = []
    for name in names:
        if name not in LOGGERS:
            problems.append(f"--log-to {name!r}: choose from {', '.join(LOGGERS)}.")
        elif importlib.util.find_spec(LOGGERS[name]) is None:
            problems.append(f"--log-to {name} needs the {LOGGERS[name]} package: {INSTALL[name]}")
    return problems


def scalars(record: RunRecord) -> Iterator[tuple[str, float, int]]:
    """(tag, value, shots) for everything numeric in the results block; NaN left out."""
    for task, row in record.rows():
        values = {
            f"{task}/{row.metric}": row.mean,
            f"{task}/{row.metric}_ci95_low": row.ci95[0],
            f"{task}/{row.metric}_ci95_high": row.ci95[1],
        }
        values |= {f"{task}/{name}": value for name, value in row.extra.items()}
        for field, groups in row.breakdown.items():
            values |= {f"{task}/{field}/{key}": group.mean for key, group in groups.items()}
        for tag, value in values.items():
            if not math.isnan(value):
                yield tag, float(value), row.shots


def log_run(run_dir: Path, names: Sequence[str]) -> list[str]:
    """Send the run's scores to each tracker; returns where each went."""
    record = RunRecord.load(run_dir)
    return [{"tensorboard": _tensorboard, "wandb": _wandb}[name](run_dir, record) for name in names]


def _tensorboard(run_dir: Path, record: RunRecord) -> str:
    from torch.utils.tensorboard import SummaryWriter

    folder = run_dir / "tensorboard"
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for tag, value, shots in scalars(record):
            writer.add_scalar(tag, value, global_step=shots)
        writer.add_text("config", f"```\n{json.dumps(record.config, indent=2, default=str)}\n```")
    finally:
        writer.close()
    return f"TensorBoard: {folder}"


def _wandb(run_dir: Path, record: RunRecord) -> str:
    import wandb

    project = os.environ.get("WANDB_PROJECT", "fseval")
    run = wandb.init(project=project, name=run_dir.name, config=record.config, dir=str(run_dir), reinit=True)
    try:
        by_step: dict[int, dict[str, float]] = {}
        for tag, value, shots in scalars(record):
            by_step.setdefault(shots, {})[tag] = value
        for shots in sorted(by_step):
            run.log({"shots": shots, **by_step[shots]}, step=shots)
        columns = ["task", "shots", "metric", "mean", "stddev", "ci95_low", "ci95_high", "n", "failed"]
        rows = [
            [task, r.shots, r.metric, r.mean, r.stddev, r.ci95[0], r.ci95[1], r.n, r.failed]
            for task, r in record.rows()
        ]
        tables: dict[str, Any] = {"results": wandb.Table(columns=columns, data=rows)}
        samples = _sample_rows(run_dir)
        if samples:
            tables["samples"] = wandb.Table(columns=list(samples[0]), data=[list(s.values()) for s in samples])
        run.log(tables)
        return f"W&B: project {project}, run {run.name}"
    finally:
        run.finish()


def _sample_rows(run_dir: Path) -> list[dict[str, Any]]:
    if not (run_dir / SAMPLES_FILE).is_file():
        return []
    return [
        {
            "task": s.task,
            "shots": s.shots,
            "seed": s.seed,
            "id": str(s.id),
            "prompt": s.prompt,
            "prediction": s.prediction,
            "targets": json.dumps(s.targets),
            "score": s.score,
            "error": s.error,
        }
        for s in read_samples(run_dir)
    ]
