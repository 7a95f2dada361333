"""What tests import by name (a module of its own: ``conftest`` is ambiguous, tests/models has one too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
