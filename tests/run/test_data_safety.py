"""Nothing finished is overwritten or mixed: model folders, resumed runs' weights, failed writes."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_writers import flat, run_outputs
from typer.testing import CliRunner

from fseval.cli import app

runner = CliRunner()


def modes(root: Path) -> set[int]:
    return {stat.S_IMODE(path.stat().st_mode) for path in root.rglob("*") if path.is_file()}


def test_make_tiny_refuses_a_folder_with_files_and_writes_one_mode(tmp_path: Path) -> None:
    model = tmp_path / "model"
    result = runner.invoke(app, ["make-tiny", str(model)])
    assert result.exit_code == 0, result.output
    assert len(modes(model)) == 1  # safetensors files used to be 0600, the rest 0644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    before = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    again = runner.invoke(app, ["make-tiny", str(model), "--seed", "1"])
    assert again.exit_code == 1 and "is a folder with files in it" in flat(again.output) and "--force" in again.output
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == before
    forced = runner.invoke(app, ["make-tiny", str(model), "--seed", "1", "--force"])
    assert forced.exit_code == 0 and (model / "checkpoint.pt").read_bytes() != before[model / "checkpoint.pt"]
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["make-tiny", str(tmp_path / "file")])
    assert result.exit_code == 1 and "is a file; a folder is expected" in flat(result.output)


def test_make_tiny_that_fails_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fseval.models.openflamingo.tiny as family

    def broken(directory: Path, **kwargs: object) -> Path:
        (Path(directory) / "checkpoint.pt").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(family, "make_tiny", broken)
    result = runner.invoke(app, ["make-tiny", str(tmp_path / "model")])
    assert result.exit_code != 0 and list(tmp_path.iterdir()) == []


def test_resume_refuses_changed_weights_and_accepts_moved_ones(tmp_path: Path) -> None:
    model, other = tmp_path / "model", tmp_path / "other"
    assert runner.invoke(app, ["make-tiny", str(model)]).exit_code == 0
    assert runner.invoke(app, ["make-tiny", str(other), "--seed", "1"]).exit_code == 0
    out = tmp_path / "run"
    args = ["run", "--task", "shapes_vqa", "--shots", "0", "--limit", "2", "--model", str(model), "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    recorded = json.loads((out / "results.json").read_text())["model"]["files"]
    assert {"lm/model.safetensors", "lm/tokenizer.json", "checkpoint", "vision_pretrained"} <= recorded.keys()
    assert not any(key.startswith("tokenizer/") for key in recorded)  # the LM's own tokenizer, counted once

    # Another language model given on the command line: refused, naming its files, before any weights load.
    swapped = runner.invoke(app, ["run", "--resume", str(out), "--shots", "0,1", "--model-arg", f"lm={other / 'lm'}"])
    assert swapped.exit_code == 1 and "lm/model.safetensors has other content" in flat(swapped.output)
    assert "Loading the model" not in swapped.output
    # New weights written into the run's own model folder: refused too.
    shutil.copy(other / "lm" / "model.safetensors", model / "lm" / "model.safetensors")
    changed = runner.invoke(app, ["run", "--resume", str(out), "--shots", "0,1"])
    assert changed.exit_code == 1 and "lm/model.safetensors has other content" in flat(changed.output)
    assert "tokenizer.json" not in flat(changed.output)  # only what changed is named
    # The same files in another place: a moved model resumes.
    shutil.rmtree(model)
    moved = tmp_path / "moved"
    assert runner.invoke(app, ["make-tiny", str(moved)]).exit_code == 0
    resumed = runner.invoke(app, ["run", "--resume", str(out), "--shots", "0,1", "--model", str(moved)])
    assert resumed.exit_code == 0, resumed.output


class SwallowsCtrlC:
    """A loader whose library catches the Ctrl-C that arrives while it loads (inside a ``__del__``)."""

    def check(self, config: object, needs: object = None) -> tuple[str, ...]:
        return ()

    def files(self, config: object) -> dict[str, str]:
        return {}

    def load(self, config: object, device: str) -> object:
        import os
        import signal

        from fseval.models.mock import MockModel

        class Finaliser:
            def __del__(self) -> None:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # the handler runs here, and the exception dies with __del__
                    pass

        Finaliser()
        return MockModel()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed Ctrl-C
def test_ctrl_c_during_model_loading_stops_the_run(tmp_path: Path, vqav2_dir: Path) -> None:
    from fseval.config import RunConfig
    from fseval.progress import no_progress
    from fseval.run.runner import RunInterrupted, run
    from fseval.run.stopping import stop_on_signals

    config = RunConfig(tasks=("vqav2",), model="mock", shots=(0,), data_dir=str(vqav2_dir), output=tmp_path / "run")
    with stop_on_signals(), pytest.raises(RunInterrupted) as stopped:
        run(config, no_progress, SwallowsCtrlC())  # type: ignore[arg-type]
    assert stopped.value.saved == 0 and not (tmp_path / "run" / "samples.jsonl").exists()


def test_a_failure_inside_the_run_is_a_panel_and_resumable(tmp_path: Path, vqav2_dir: Path) -> None:
    """A disk that fills up mid-run: one panel with the cause, what is saved and the resume command."""
    import sqlite3

    from fseval.run import store

    out = tmp_path / "run"
    args = ["run", "--model", "mock", "--task", "vqav2", "--shots", "0,4", "--batch-size", "2"]
    args += ["--data-dir", str(vqav2_dir), "-o", str(out)]
    calls = {"n": 0}
    put = store.SampleStore.put

    def fills_up(self: store.SampleStore, records: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise sqlite3.OperationalError("database or disk is full")
        put(self, records)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store.SampleStore, "put", fills_up)
        result = runner.invoke(app, args)
    text = flat(result.output)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "The run stopped on an error: OperationalError: database or disk is full" in text
    assert "The disk is full" in text and f"4 finished samples are saved in {out}" in text
    assert f"fseval run --resume {out}" in text and "OperationalError" in (out / "error.log").read_text()
    resumed = runner.invoke(app, ["run", "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output


def test_debug_prints_the_traceback(tmp_path: Path, vqav2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSEVAL_DEBUG", "0")  # --debug sets it to 1; restored after the test
    args = ["--debug", "run", "--model", "mock", "--task", "vqav2", "--shots", "0", "--model-arg", "crash_after=1"]
    args += ["--batch-size", "2"]
    result = runner.invoke(app, [*args, "--data-dir", str(vqav2_dir), "-o", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" in result.output and "SimulatedCrash" in result.output


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 112 KiB file system (tmpfs), where the machine lets the tests mount one; unmounted afterwards."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=112k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_mid_run_keeps_what_finished_and_resumes(tmp_path: Path, vqav2_dir: Path, tiny_disk: Path) -> None:
    import subprocess

    args = ["run", "--model", "mock", "--task", "vqav2", "--shots", "0,4", "--trials", "2", "--batch-size", "2"]
    args += ["--model-arg", "mode=copy-demo", "--data-dir", str(vqav2_dir)]
    whole = tmp_path / "whole"
    assert runner.invoke(app, [*args, "-o", str(whole)]).exit_code == 0
    out = tiny_disk / "run"
    result = runner.invoke(app, [*args, "-o", str(out)])
    text = flat(result.output)
    assert result.exit_code == 1 and "Traceback" not in result.output and "The disk is full" in text, text
    saved = int(text.split(" finished samples are saved")[0].rsplit(" ", 1)[-1])
    assert 0 < saved < 24  # some batches finished before the disk filled, not all
    log = out / "error.log"  # the traceback where there was room for it; never an empty file
    assert not log.exists() or log.stat().st_size > 0
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)  # space freed
    resumed = runner.invoke(app, ["run", "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
    assert run_outputs(out) == run_outputs(whole)


def test_a_read_only_mount_is_a_message_for_every_command(tmp_path: Path, vqav2_dir: Path, tiny_disk: Path) -> None:
    import subprocess

    done = tmp_path / "done"
    args = ["run", "--model", "mock", "--task", "vqav2", "--shots", "0", "--data-dir", str(vqav2_dir)]
    assert runner.invoke(app, [*args, "-o", str(done)]).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    commands = {
        "run": [*args, "-o", str(tiny_disk / "run")],
        "make-tiny": ["make-tiny", str(tiny_disk / "model")],
        "report": ["report", str(done), "-o", str(tiny_disk / "report.html")],
        "plot": ["plot", str(done), "-o", str(tiny_disk / "plot.png")],
        "check": ["check", str(done), "--write-baseline", str(tiny_disk / "baseline.json")],
    }
    for name, command in commands.items():
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and "Traceback" not in result.output, (name, result.output)
        assert "not writable" in flat(result.output) or "read-only" in flat(result.output), (name, result.output)
    assert list(tiny_disk.iterdir()) == []
