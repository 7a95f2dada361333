"""Interrupted runs resume to exactly the files of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from data_writers import flat, run_outputs
from typer.testing import CliRunner

from fseval.cli import app
from fseval.record import STORE_FILE
from fseval.run.store import SampleStore

runner = CliRunner()
ARGS = [
    "--model",
    "mock",
    "--task",
    "vqav2",
    "--shots",
    "0,4",
    "--trials",
    "2",
    "--batch-size",
    "2",
    "--model-arg",
    "mode=copy-demo",
]


def test_crash_then_resume_equals_an_uninterrupted_run(tmp_path: Path, vqav2_dir: Path) -> None:
    data = ["--data-dir", str(vqav2_dir)]
    whole = tmp_path / "whole"
    assert runner.invoke(app, ["run", *ARGS, *data, "-o", str(whole)]).exit_code == 0

    broken = tmp_path / "broken"
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(broken), "--model-arg", "crash_after=5"])
    # Like Ctrl-C: one panel with the error, what is saved and the resume command; the traceback in a log.
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "The run stopped on an error: SimulatedCrash" in result.output
    assert f"10 finished samples are saved in {broken}" in result.output
    assert f"fseval run --resume {broken}" in result.output
    assert f"traceback is in {broken / 'error.log'}" in result.output
    assert "SimulatedCrash" in (broken / "error.log").read_text().splitlines()[-1]
    store = SampleStore(broken / STORE_FILE)
    assert store.count() == 10  # five finished batches of two, nothing more, nothing less
    store.close()

    result = runner.invoke(app, ["run", "--resume", str(broken), "--model-arg", "crash_after=0"])
    assert result.exit_code == 0, result.output
    assert run_outputs(broken) == run_outputs(whole)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_then_resume(tmp_path: Path, vqav2_dir: Path) -> None:
    data = ["--data-dir", str(vqav2_dir)]
    whole = tmp_path / "whole"
    assert runner.invoke(app, ["run", *ARGS, *data, "-o", str(whole)]).exit_code == 0

    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "fseval", "run", *ARGS, *data, "-o", str(killed), "--model-arg", "kill_after=7"]
    process = subprocess.run(command, capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL
    result = runner.invoke(app, ["run", "--resume", str(killed), "--model-arg", "kill_after=0"])
    assert result.exit_code == 0, result.output
    assert run_outputs(killed) == run_outputs(whole)
    lines = [json.loads(line) for line in (killed / "samples.jsonl").read_text().splitlines()]
    keys = [(line["shots"], line["seed"], line["id"]) for line in lines]
    assert len(keys) == len(set(keys)) == 2 * 2 * 6  # no sample lost or counted twice


@pytest.mark.slow
@pytest.mark.subprocess
def test_ctrl_c_says_how_to_resume(tmp_path: Path, vqav2_dir: Path) -> None:
    data = ["--data-dir", str(vqav2_dir)]
    whole = tmp_path / "whole"
    assert runner.invoke(app, ["run", *ARGS, *data, "-o", str(whole)]).exit_code == 0

    stopped = tmp_path / "stopped"
    command = [
        sys.executable,
        "-m",
        "fseval",
        "run",
        *ARGS,
        *data,
        "-o",
        str(stopped),
        "--model-arg",
        "interrupt_after=7",
    ]
    process = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    assert process.returncode == 130, process.stderr
    assert f"14 finished samples are saved in {stopped}" in process.stdout
    assert f"fseval run --resume {stopped}" in process.stdout and "Traceback" not in process.stderr
    result = runner.invoke(app, ["run", "--resume", str(stopped), "--model-arg", "interrupt_after=0"])
    assert result.exit_code == 0, result.output
    assert run_outputs(stopped) == run_outputs(whole)


def test_a_fresh_run_never_takes_over_a_run_directory(tmp_path: Path, vqav2_dir: Path) -> None:
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", *ARGS, "--data-dir", str(vqav2_dir), "-o", str(out)]).exit_code == 0
    before = run_outputs(out)
    # Another model into the same directory would otherwise be scored on the first run's stored samples.
    other = [*ARGS[:-1], "mode=majority"]
    result = runner.invoke(app, ["run", *other, "--data-dir", str(vqav2_dir), "-o", str(out)])
    assert result.exit_code == 1 and "already holds a run" in flat(result.output)
    assert f"--resume {out}" in flat(result.output) and run_outputs(out) == before


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_directory_being_written_is_refused(tmp_path: Path, vqav2_dir: Path) -> None:
    from fseval.run.writer import RunDirClaim

    out = tmp_path / "run"
    claim = RunDirClaim(out, resume=False)  # as a run in another process holds it
    try:
        result = runner.invoke(app, ["run", *ARGS, "--data-dir", str(vqav2_dir), "-o", str(out)])
        assert result.exit_code == 1 and "being written by another fseval run" in flat(result.output)
        assert out.is_dir()
    finally:
        claim.release()
    assert not out.exists()  # a claim that wrote nothing leaves nothing behind
    assert runner.invoke(app, ["run", *ARGS, "--data-dir", str(vqav2_dir), "-o", str(out)]).exit_code == 0


def test_a_run_being_written_is_reported_as_such_before_anything_else(tmp_path: Path, vqav2_dir: Path) -> None:
    from fseval.run.writer import RunDirClaim

    out = tmp_path / "run"
    assert runner.invoke(app, ["run", *ARGS, "--data-dir", str(vqav2_dir), "-o", str(out)]).exit_code == 0
    claim = RunDirClaim(out, resume=True)  # a resume of it going on in another process
    try:
        result = runner.invoke(app, ["run", *ARGS, "--data-dir", str(vqav2_dir), "-o", str(out)])
        assert result.exit_code == 1 and "being written by another fseval run" in flat(result.output)
    finally:
        claim.release()


def test_a_failed_start_keeps_a_folder_it_did_not_make(
    tmp_path: Path, vqav2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    bad_model = ["run", "--model", "mock", "--model-arg", "mode=bogus", "--task", "vqav2", "--shots", "0"]
    result = runner.invoke(app, [*bad_model, "--data-dir", str(vqav2_dir), "-o", str(mine)])
    assert result.exit_code == 1 and "Unknown mock mode" in flat(result.output) and mine.is_dir()
    monkeypatch.chdir(mine)
    result = runner.invoke(app, [*bad_model, "--data-dir", str(vqav2_dir), "-o", "."])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit) and mine.is_dir()


def test_resume_refuses_another_model_and_other_options(tmp_path: Path, vqav2_dir: Path) -> None:
    out = tmp_path / "run"
    data = ["--data-dir", str(vqav2_dir)]
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(out), "--model-arg", "crash_after=3"])
    assert result.exit_code == 1 and "The run stopped on an error: SimulatedCrash" in flat(result.output)
    other = runner.invoke(
        app, ["run", "--resume", str(out), "--model-arg", "crash_after=0", "--model-arg", "mode=field"]
    )
    assert other.exit_code == 1 and "made by another model" in flat(other.output)
    assert "mode: 'copy-demo' -> 'field'" in flat(other.output)
    limit = runner.invoke(app, ["run", "--resume", str(out), "--limit", "4"])
    assert limit.exit_code == 2 and "--limit cannot be combined with --resume" in flat(limit.output)
    assert runner.invoke(app, ["run", "--resume", str(out), "--model-arg", "crash_after=0"]).exit_code == 0


def test_resume_from_another_directory(tmp_path: Path, vqav2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "data").symlink_to(vqav2_dir)
    monkeypatch.chdir(tmp_path / "project")
    result = runner.invoke(app, ["run", *ARGS, "--data-dir", "data", "-o", "run", "--model-arg", "crash_after=3"])
    assert result.exit_code == 1 and "The run stopped on an error: SimulatedCrash" in flat(result.output)
    assert runner.invoke(app, ["run", *ARGS, "--data-dir", "data", "-o", "whole"]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "--resume", "project/run", "--model-arg", "crash_after=0"])
    assert result.exit_code == 0, result.output
    # The same files as in one go, media paths included (they are relative to the folder the run began in).
    assert run_outputs(tmp_path / "project" / "run") == run_outputs(tmp_path / "project" / "whole")
    assert Path.cwd() == tmp_path


def test_a_run_that_stored_nothing_can_be_started_again(tmp_path: Path, vqav2_dir: Path) -> None:
    out, data = tmp_path / "run", ["--data-dir", str(vqav2_dir)]
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(out), "--shots", "500"])  # more demos than the pool
    assert result.exit_code == 1 and "demo split has" in flat(result.output) and not out.exists()  # refused first
    # A run stopped after writing its results.json, before it stored a sample, holds nothing to keep.
    done = tmp_path / "done"
    assert runner.invoke(app, ["run", *ARGS, *data, "-o", str(done)]).exit_code == 0
    out.mkdir()
    started = json.loads((done / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**started, "results": {}}))
    (out / "samples.jsonl").touch()
    (out / "error.log").write_text("Traceback ...")
    assert runner.invoke(app, ["run", *ARGS, *data, "-o", str(out)]).exit_code == 0


def test_output_must_be_a_new_or_empty_folder(tmp_path: Path, vqav2_dir: Path) -> None:
    data = ["--data-dir", str(vqav2_dir)]
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(tmp_path / "file")])
    assert result.exit_code == 1 and "is a file" in flat(result.output)
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(vqav2_dir)])
    assert result.exit_code == 1 and "holds files that are not an fseval run's" in flat(result.output)


def test_a_fresh_run_never_overwrites_or_mixes(tmp_path: Path, vqav2_dir: Path) -> None:
    """Another tool's results.json, or a finished run copied without its store, is refused and left as it was."""
    data = ["--data-dir", str(vqav2_dir)]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.json").write_text('{"my": 1}')
    (foreign / "notes.txt").write_text("notes")
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(foreign)])
    assert result.exit_code == 1 and "not an fseval run's (notes.txt)" in flat(result.output)
    (foreign / "notes.txt").unlink()
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(foreign)])
    assert result.exit_code == 1 and "holds a results.json that is not fseval's" in flat(result.output)
    assert (foreign / "results.json").read_text() == '{"my": 1}' and len(list(foreign.iterdir())) == 1

    done, copy = tmp_path / "done", tmp_path / "copy"
    assert runner.invoke(app, ["run", *ARGS, *data, "-o", str(done)]).exit_code == 0
    copy.mkdir()
    for name in ("results.json", "samples.jsonl"):
        (copy / name).write_bytes((done / name).read_bytes())
    before = run_outputs(copy)
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(copy), "--limit", "1"])
    assert result.exit_code == 1 and "scores) but not its store" in flat(result.output)
    (copy / "results.json").unlink()
    result = runner.invoke(app, ["run", *ARGS, *data, "-o", str(copy), "--limit", "1"])
    assert result.exit_code == 1 and "holds a run's samples.jsonl but not its store" in flat(result.output)
    (copy / "results.json").write_bytes((done / "results.json").read_bytes())
    assert run_outputs(copy) == before


def test_resume_tries_failed_samples_again(tmp_path: Path) -> None:
    from data_writers import VAL_QA, write_vqav2

    broken = write_vqav2(tmp_path / "broken", corrupt_image_id=1001)
    out, args = tmp_path / "run", ["run", "--model", "mock", "--task", "vqav2", "--shots", "0"]
    result = runner.invoke(app, [*args, "--data-dir", str(broken), "-o", str(out)])
    assert result.exit_code == 0 and f"tried again by: fseval run --resume {out}" in flat(result.output)
    (row,) = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    assert row["failed"] == 3
    fixed = write_vqav2(tmp_path / "fixed")  # the same questions with a readable image
    (broken / "val2014" / "COCO_val2014_000000001001.jpg").write_bytes(
        (fixed / "val2014" / "COCO_val2014_000000001001.jpg").read_bytes()
    )
    assert runner.invoke(app, ["run", "--resume", str(out)]).exit_code == 0
    (row,) = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    assert row["failed"] == 0 and row["n"] == len(VAL_QA)


def test_resume_needs_a_run_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "not a run directory" in flat(result.output)
