"""Shared fixtures; the dataset writers live in data_writers.py and video_writers.py, helpers in run_helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

# Rich wraps panels and tables at the terminal width, so a long temporary path would move the words
# a test looks for onto two lines. Tests run at a fixed, wide width whatever the terminal or the
# checkout path (set before fseval's consoles exist; subprocesses inherit it).
os.environ["COLUMNS"] = "4000"

import pytest
from data_writers import write_vqav2
from run_helpers import MockRun, made_tiny

TESTS = Path(__file__).parent
# Whole folders and modules of slow tests (real model numerics, tiny models run end to end, the benchmark
# scripts); single slow tests elsewhere carry @pytest.mark.slow. `pytest -m "not slow"` is the quick subset.
SLOW_PATHS = ("models/", "run/test_models_e2e.py", "benchmarks/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(TESTS).as_posix()
        if where.startswith(SLOW_PATHS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def vqav2_dir(tmp_path: Path) -> Path:
    return write_vqav2(tmp_path / "vqav2")


@pytest.fixture(scope="session")
def tiny_openflamingo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default tiny OpenFlamingo (GPT-NeoX LM, seed 0), written once a session; tests only read it."""
    return made_tiny(tmp_path_factory.mktemp("models") / "openflamingo")


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2-VL (hf_vlm family, the architecture that takes video too), written once a session."""
    return made_tiny(tmp_path_factory.mktemp("models") / "qwen2_vl", "--family", "hf_vlm", "--arch", "qwen2_vl")


@pytest.fixture(scope="session")
def tiny_idefics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny IDEFICS (seed 0), written once a session; tests only read it."""
    return made_tiny(tmp_path_factory.mktemp("models") / "idefics", "--family", "idefics")


@pytest.fixture
def mock_run(vqav2_dir: Path) -> MockRun:
    """``mock_run(out, *options)``: ``fseval run`` of the mock model on the VQAv2-format test data (or
    ``data_dir=``, or a bundled ``task=``) into ``out``, through the real CLI; asserts it exits 0, returns ``out``."""
    from typer.testing import CliRunner

    from fseval.cli import app

    def run(out: Path, *options: str, task: str = "vqav2", data_dir: Path | None = None) -> Path:
        data = ["--data-dir", str(data_dir or vqav2_dir)] if task == "vqav2" else []
        result = CliRunner().invoke(app, ["run", "--model", "mock", "--task", task, *data, "-o", str(out), *options])
        assert result.exit_code == 0, result.output
        return out

    return run
