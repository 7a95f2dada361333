"""The README's GitHub Actions example passes as written: its fseval steps, run in order."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fseval.cli import app
from fseval.resources import ASSETS_DIR

README = Path(__file__).parents[2] / "README.md"
runner = CliRunner()


def ci_example() -> str:
    text = README.read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(jobs:.*?)```", text, flags=re.S)
    return block


def test_the_ci_example_installs_java_and_checks_the_tasks_it_runs() -> None:
    block = ci_example()
    assert "default-jre-headless" in block  # the caption task's metric runs on Java
    (run,) = re.findall(r"- run: (fseval run .*)", block)
    (check,) = re.findall(r"- run: (fseval check .*)", block)
    assert "--baseline" in check and "shapes_caption" in run and "shapes_vqa" in run


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="the caption metric needs Java")
def test_the_ci_example_passes_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = ci_example()
    monkeypatch.chdir(tmp_path)
    (Path("ci")).mkdir()
    # What the repository holds: a tiny checkpoint of the user's (here a copy of the bundled one, whose
    # answers are quick to score), and a baseline written once from a good run.
    shutil.copytree(ASSETS_DIR / "tiny-shapes", "my-tiny-checkpoint")
    (written_once,) = re.findall(r"written once from a good run: (fseval check .*)", block)
    steps = re.findall(r"- run: (fseval .*)", block)
    for number, step in enumerate(steps):
        if step.startswith("fseval check"):
            made = runner.invoke(app, shlex.split(written_once)[1:])
            assert made.exit_code == 0, made.output
        result = runner.invoke(app, shlex.split(step)[1:])
        assert result.exit_code == 0, f"step {number} ({step}):\n{result.output}"
    assert "All 4 scores meet the baseline" in result.output
