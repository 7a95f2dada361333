"""A 2-process gloo run on CPU under torchrun writes what a single process writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_writers import flat, run_outputs
from typer.testing import CliRunner

from fseval.cli import app

ARGS = [
    "--model",
    "mock",
    "--task",
    "vqav2",
    "--shots",
    "0,2",
    "--trials",
    "2",
    "--batch-size",
    "2",
    "--model-arg",
    "mode=copy-demo",
]

TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def two_processes(*options: str) -> list[str]:
    """``fseval run OPTIONS`` under torchrun, 2 processes on this machine (gloo on CPU)."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return [*torchrun, "-m", "fseval", "run", *options]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform == "win32", reason="torchrun")
def test_two_gloo_processes_equal_one(tmp_path: Path, vqav2_dir: Path) -> None:
    single = tmp_path / "single"
    result = CliRunner().invoke(app, ["run", *ARGS, "--data-dir", str(vqav2_dir), "-o", str(single)])
    assert result.exit_code == 0, result.output

    double = tmp_path / "double"
    command = two_processes(*ARGS, "--data-dir", str(vqav2_dir), "-o", str(double))
    process = subprocess.run(command, capture_output=True, text=True, env=TORCHRUN_ENV, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert run_outputs(double) == run_outputs(single)
    provenance = json.loads((double / "results.json").read_text())["provenance"]
    assert provenance["world_size"] == 2

    # A refusal on rank 0 (the directory already holds a run) stops every process with one message.
    process = subprocess.run(command, capture_output=True, text=True, env=TORCHRUN_ENV, timeout=300)
    # (flat: rich wraps the panel at the terminal width, and a long temporary path moves the words)
    assert process.returncode != 0 and flat(process.stderr).count("already holds a run") == 2
    assert "Connection closed" not in process.stderr and "RuntimeError" not in process.stderr  # rank 1 did not wait


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform == "win32", reason="torchrun")
def test_demos_set_by_the_data_are_the_same_in_two_processes(tmp_path: Path) -> None:
    """VL-ICL's per-query demos (one seeded stream over every query) do not depend on how queries are shared out."""
    from vl_icl_writers import write_vl_icl

    release = write_vl_icl(tmp_path / "VL-ICL", ["open_mi"])
    args = ["--model", "mock", "--model-arg", "mode=copy-demo", "--task", "vl_icl_open_mi", "--shots", "0,1,2"]
    args += ["--seed", "0", "--batch-size", "2", "--data-dir", str(release)]
    single = tmp_path / "single"
    result = CliRunner().invoke(app, ["run", *args, "-o", str(single)])
    assert result.exit_code == 0, result.output
    double = tmp_path / "double"
    command = two_processes(*args, "-o", str(double))
    process = subprocess.run(command, capture_output=True, text=True, env=TORCHRUN_ENV, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert run_outputs(double) == run_outputs(single)
