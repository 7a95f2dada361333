"""Writing what commands produce: checked before any work, written whole or not at all.

Every command that writes a file or a folder (``report -o``, ``plot -o``, ``check --write-baseline``,
``make-tiny``) goes through here, so a read-only place, a missing parent, a folder where a file is
expected (or the reverse) and a full disk are one clear message each, and a failure leaves nothing
behind that blocks the next try: files are written to a temporary name beside the target and
renamed into place; folders are built in a hidden sibling and moved into place when complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fseval.errors import FsevalError


def os_problem(error: OSError) -> str:
    """An ``OSError`` in words a user acts on ("the disk is full", "permission denied")."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if error.errno == errno.EROFS:
        return "the file system is read-only"
    return (error.strerror or str(error)).lower()


def existing_parent(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (what creating it would write into)."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def writable_folder_problem(folder: Path, what: str) -> str | None:
    """Why ``folder`` (to be created where missing) cannot hold new files, or None."""
    parent = folder if folder.exists() else existing_parent(folder)
    if not parent.is_dir():
        return f"{what}: {parent} is a file, not a folder."
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{what}: {parent} is not writable."
    return None


def output_file(path: Path, option: str) -> Path:
    """A file a command is about to write, checked before the work (its missing folders are made when written).

    ``option`` names where the path came from (``--output``, ``--write-baseline``) in the message.
    """
    what = f"{option} {path}"
    if path.is_dir():
        raise FsevalError(f"{what} is a folder; a file is expected here.", hint="Give a file name, e.g. out.html.")
    problem = writable_folder_problem(path.parent, what)
    if problem is not None:
        raise FsevalError(problem, hint="Give a path in a folder you can write to.")
    if path.exists() and not os.access(path, os.W_OK):
        raise FsevalError(f"{what} exists and is read-only.", hint="Give another file name, or make it writable.")
    return path


def write_atomic(path: Path, data: str | bytes, option: str = "--output") -> None:
    """``data`` written to a temporary file beside ``path``, then renamed over it: never half a file.

    A failure, or Ctrl-C, removes the temporary file; the folders above ``path`` are made if missing.
    """
    output_file(path, option)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise FsevalError(f"{option} {path} cannot be written: {os_problem(error)}.") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        os.chmod(temporary, default_mode(directory=False))  # mkstemp makes 0600; a written file is 0644-like
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise FsevalError(f"{option} {path} cannot be written: {os_problem(error)}.") from None
        raise


def default_mode(directory: bool) -> int:
    """The mode a newly created file or folder gets under the process's umask (0644 / 0755 under 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def new_folder_problem(directory: Path, option: str, force: bool = False) -> str | None:
    """Why ``directory`` cannot be created as a new folder (it holds files, it is a file ...), or None."""
    what = f"{option} {directory}"
    if directory.exists() and not directory.is_dir():
        return f"{what} is a file; a folder is expected here."
    if directory.is_dir() and any(directory.iterdir()) and not force:
        return f"{what} is a folder with files in it (give a new or empty folder, or --force to replace it)."
    return writable_folder_problem(directory.parent, what)


@contextlib.contextmanager
def staged_folder(directory: Path, option: str, force: bool = False) -> Iterator[Path]:
    """A hidden sibling of ``directory`` to build in; moved into place only when the block completes.

    A failure (or Ctrl-C) inside the block removes the sibling, so nothing half-made is left. An
    existing non-empty ``directory`` is refused unless ``force``, which replaces it whole. Every file
    and folder is given the mode the umask implies (libraries that write through ``mkstemp`` leave 0600).
    """
    problem = new_folder_problem(directory, option, force)
    if problem is not None:
        raise FsevalError(problem)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial", dir=directory.parent))
    except OSError as error:
        raise FsevalError(f"{option} {directory} cannot be created: {os_problem(error)}.") from None
    try:
        yield staging
        normalise_modes(staging)
        replace_folder(staging, directory)
    except OSError as error:
        raise FsevalError(f"{option} {directory} cannot be written: {os_problem(error)}.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def normalise_modes(root: Path) -> None:
    file_mode, folder_mode = default_mode(directory=False), default_mode(directory=True)
    os.chmod(root, folder_mode)
    for folder, folders, files in os.walk(root):
        for name in folders:
            os.chmod(os.path.join(folder, name), folder_mode)
        for name in files:
            os.chmod(os.path.join(folder, name), file_mode)


def replace_folder(source: Path, target: Path) -> None:
    """``source`` renamed to ``target``; an existing ``target`` is moved aside first and removed after."""
    if not target.exists():
        os.replace(source, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, aside / "old")
    try:
        os.replace(source, target)
    except OSError:
        os.replace(aside / "old", target)  # put the original back
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)
