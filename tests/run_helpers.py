"""What tests import by name (a module of its own: ``conftest`` is ambiguous, tests/models has one too)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

MockRun = Callable[..., Path]
"""The ``mock_run`` fixture: ``mock_run(out, *options, task=, data_dir=)`` -> ``out``."""


def made_tiny(directory: Path, *options: str) -> Path:
    """``fseval make-tiny DIR [options]`` through the real CLI, which prints the folder it wrote."""
    from typer.testing import CliRunner

    from fseval.cli import app

    result = CliRunner().invoke(app, ["make-tiny", str(directory), *options])
    assert result.exit_code == 0, result.output
    assert str(directory) in result.output  # printed for `--model $(fseval make-tiny DIR)`
    return directory


def samples_of(run_dir: Path) -> list[dict[str, Any]]:
    """A run directory's samples.jsonl, one dict per line."""
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def results_of(run_dir: Path, task: str) -> list[dict[str, Any]]:
    """A task's rows of a run directory's results.json (one per shot count)."""
    rows: list[dict[str, Any]] = json.loads((run_dir / "results.json").read_text())["results"][task]
    return rows
