"""Bad input of every kind ends in a message naming what is wrong, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from data_writers import flat, write_vqav2
from typer.testing import CliRunner

from fseval.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of broken things: data, predictions, runs, baselines, task files."""
    root = tmp_path_factory.mktemp("hostile")
    data = write_vqav2(root / "vqav2")
    good = root / "good"
    args = ["run", "--model", "mock", "--task", "vqav2", "--shots", "0", "--data-dir", str(data), "-o", str(good)]
    assert runner.invoke(app, args).exit_code == 0
    (root / "bad.json").write_text("{not json")
    (root / "notutf8.json").write_bytes(b'["\xff\xfe"]')
    (root / "file.txt").write_text("x")
    (root / "listrun").mkdir()
    (root / "listrun" / "results.json").write_text("[1, 2]")
    shutil.copytree(data, root / "latin1", ignore=shutil.ignore_patterns("*2014"))
    (root / "latin1" / "v2_mscoco_val2014_annotations.json").write_bytes(b'{"annotations": ["caf\xe9"]}')
    (root / "tasks").mkdir()
    (root / "tasks" / "mine.yaml").write_bytes(b"name: mine\ndescription: caf\xe9\n")
    (root / "badsamples").mkdir()
    for name in ("results.json", "samples.jsonl"):
        (root / "badsamples" / name).write_bytes((good / name).read_bytes())
    (root / "badsamples" / "samples.jsonl").write_text("{oops\n")
    return root


CASES = [
    (["score", "--task", "vqav2", "--predictions", "{p}/notutf8.json", "--data-dir", "{p}/vqav2"], "is not UTF-8 text"),
    (["score", "--task", "vqav2", "--predictions", "{p}/bad.json", "--data-dir", "{p}/vqav2"], "is not valid JSON"),
    (["run", "--model", "mock", "--task", "vqav2", "--data-dir", "{p}/latin1", "-o", "{p}/o1"], "is not UTF-8 text"),
    (
        ["run", "--model", "mock", "--task", "vqav2", "--data-dir", "{p}/file.txt", "-o", "{p}/o2"],
        "a file, not a folder",
    ),
    (["run", "--model", "mock", "--task", "mine", "--tasks-dir", "{p}/tasks", "-o", "{p}/o3"], "is not valid YAML"),
    (["show", "{p}/listrun"], "is not an fseval results file (the top level:"),
    (["run", "--resume", "{p}/listrun"], "is not an fseval results file"),
    (["compare", "{p}/good", "{p}/badsamples"], "cannot read its samples"),
    (["report", "{p}/badsamples", "-o", "{p}/r.html"], "cannot read its samples"),
    (["check", "{p}/good", "--baseline", "{p}/notutf8.json"], "Cannot read baseline"),
    (["check", "{p}/good", "--write-baseline", "{p}/vqav2"], "is a folder; a file is expected"),
    (["make-tiny", "{p}/file.txt/model"], "is a file, not a folder"),
    (["run", "--model", "mock", "--task", "vqav2", "--data-dir", "{p}/vqav2", "-o", "{p}/file.txt"], "is a file"),
    (
        ["run", "--model", "mock", "--task", "vqav2", "--data-dir", "{p}/vqav2", "-o", "{p}/vqav2"],
        "not an fseval run's",
    ),
]


@pytest.mark.parametrize(
    ("args", "expected"), CASES, ids=[" ".join(args[:2]) + f" #{i}" for i, (args, _) in enumerate(CASES)]
)
def test_bad_input_is_a_message(place: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, [arg.format(p=place) for arg in args])
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and expected in flat(result.output), result.output
