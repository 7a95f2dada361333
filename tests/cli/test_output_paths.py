"""Where ``report -o``, ``plot -o`` and ``check --write-baseline`` write: every bad place is one panel, said before
the work, and a failed write leaves nothing behind (no half file, no temporary file)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from data_writers import flat
from typer.testing import CliRunner

from fseval.cli import app

runner = CliRunner()

# (command line before the path, the option as messages name it, a file name the command accepts)
COMMANDS = {
    "report": (["report"], "--output", "report.html"),
    "plot": (["plot"], "--output", "plot.png"),
    "baseline": (["check"], "--write-baseline", "baseline.json"),
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    args = ["run", "--model", "mock", "--task", "shapes_vqa", "--limit", "4", "--shots", "0", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def invoke(command: str, run_dir: Path, target: Path) -> Any:
    words, option, _ = COMMANDS[command]
    return runner.invoke(app, [*words, str(run_dir), option, str(target)])


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")} if folder.exists() else set()


def assert_refused(result: Any, option: str, path: Path, *words: str) -> None:
    text = flat(result.output)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "fseval: error" in result.output
    assert f"{option} {path}" in text, text
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_parent_is_created(command: str, run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / COMMANDS[command][2]
    result = invoke(command, run_dir, target)
    assert result.exit_code == 0, result.output
    assert target.is_file() and files_under(tmp_path) == {"new", "new/deeper", f"new/deeper/{target.name}"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_folder_given_as_the_file(command: str, run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    assert_refused(invoke(command, run_dir, target), COMMANDS[command][1], target, "is a folder; a file is expected")
    assert files_under(tmp_path) == {"folder"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_file_where_a_folder_is_expected(command: str, run_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    target = blocker / "sub" / COMMANDS[command][2]
    assert_refused(invoke(command, run_dir, target), COMMANDS[command][1], target, f"{blocker} is a file, not a folder")
    assert files_under(tmp_path) == {"notes.txt"} and blocker.read_text() == "a file, not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into a read-only folder anyway")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_read_only_folder(command: str, run_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        target = folder / COMMANDS[command][2]
        assert_refused(invoke(command, run_dir, target), COMMANDS[command][1], target, "is not writable")
        assert files_under(folder) == set()
    finally:
        folder.chmod(0o755)


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A folder that ``os.access`` says cannot be written (as chmod 0o555 does, also for root)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    return folder


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_read_only_folder_even_as_root(command: str, run_dir: Path, read_only: Path) -> None:
    target = read_only / COMMANDS[command][2]
    assert_refused(invoke(command, run_dir, target), COMMANDS[command][1], target, "is not writable")
    assert files_under(read_only) == set()


def disk_full_on_write() -> Callable[..., Any]:
    """``os.fdopen`` whose writes fail as on a full disk (the file is opened, then nothing fits)."""
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    return lambda descriptor, *args, **kwargs: Full(real_fdopen(descriptor, *args, **kwargs))


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(os, "fdopen", disk_full_on_write())
    yield


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_full_disk_leaves_nothing_behind(command: str, run_dir: Path, tmp_path: Path, full_disk: None) -> None:
    target = tmp_path / "out" / COMMANDS[command][2]
    assert_refused(invoke(command, run_dir, target), COMMANDS[command][1], target, "the disk is full")
    assert files_under(tmp_path / "out") == set()  # neither the file nor its temporary sibling


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_full_disk_keeps_the_previous_file(command: str, run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / COMMANDS[command][2]
    assert invoke(command, run_dir, target).exit_code == 0
    before = target.read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdopen", disk_full_on_write())
        assert_refused(invoke(command, run_dir, target), COMMANDS[command][1], target, "the disk is full")
    assert target.read_bytes() == before and files_under(tmp_path) == {target.name}


def test_the_place_is_checked_before_the_work(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad -o is said before the report is built (thumbnails of a large run take seconds)."""
    import fseval.reports.html as html

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the report was built before its output was checked")

    monkeypatch.setattr(html, "render", never)
    target = tmp_path / "folder"
    target.mkdir()
    assert_refused(invoke("report", run_dir, target), "--output", target)
    monkeypatch.setattr("fseval.reports.plot.draw", never)
    assert_refused(invoke("plot", run_dir, target), "--output", target)
