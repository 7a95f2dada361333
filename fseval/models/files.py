"""Checking model files before loading them: present, complete, parseable, without reading the weights.

A partial download is the common failure: a truncated ``checkpoint.pt`` or ``.safetensors`` file
makes torch or safetensors fail minutes into a load with a message that does not name the file.
These checks read only what locates the data (a zip's central directory at the end of the file,
a safetensors header and its offsets), so a multi-GB checkpoint is checked in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def checkpoint_problem(path: Path) -> str | None:
    """Why a torch checkpoint cannot be loaded (None: it looks whole)."""
    if not path.is_file():
        return f"{path} does not exist"
    if path.suffix == ".safetensors":
        return safetensors_problem(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as error:
            return f"{path} is damaged ({error}); download it again"
        return None if any(name.endswith("data.pkl") for name in names) else f"{path} is not a torch checkpoint"
    with path.open("rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x80":  # torch's legacy (pre-1.6) pickle format: no index to check
        return None
    return f"{path} is not a torch checkpoint, or it is truncated (download it again)"


def safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file cannot be loaded: its header must parse and its tensors end within the file."""
    size = path.stat().st_size if path.is_file() else -1
    if size < 8:
        return f"{path} does not exist" if size < 0 else f"{path} is empty or truncated"
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if 8 + length > size:
            return f"{path} is truncated (its header alone needs {8 + length} bytes, the file has {size})"
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"{path} is not a safetensors file (its header does not parse)"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    needed = 8 + length + max(ends, default=0)
    return None if needed <= size else f"{path} is truncated ({size} of {needed} bytes); download it again"


def index_shards(index: Path) -> list[str]:
    """The shard files a ``*.index.json`` names; a damaged index is an ``FsevalError`` naming it."""
    from fseval.errors import FsevalError

    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return sorted(set(map(str, weight_map.values())))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise FsevalError(f"{index} is not a weights index ({error!r}); download it again.") from None


def model_dir_problems(directory: Path) -> list[str]:
    """A Hugging Face model folder: ``config.json`` parses and every weight file is whole."""
    config = directory / "config.json"
    if not config.is_file():
        return [f"{directory} has no config.json (is it a Hugging Face model folder?)"]
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return [f"{config} does not parse ({error})"]
    weights = sorted(p for p in directory.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    problems = [p for path in weights if (p := checkpoint_problem(path)) is not None]
    return problems if weights else [*problems, f"{directory} holds no weight files"]


TOKENIZER_VOCABULARIES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")


def tokenizer_problems(directory: Path, role: str = "tokenizer") -> list[str]:
    """The files ``AutoTokenizer`` reads from a tokenizer folder, every missing one named at once."""
    missing = []
    if not any((directory / name).is_file() for name in TOKENIZER_VOCABULARIES):
        missing.append(" or ".join(TOKENIZER_VOCABULARIES))
    elif not (directory / "tokenizer.json").is_file() and (directory / "vocab.json").is_file():
        missing += [] if (directory / "merges.txt").is_file() else ["merges.txt (beside vocab.json)"]
    if not (directory / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json")
    return [f"{role} {directory} lacks the tokenizer's {'; '.join(missing)}"] if missing else []


def checkpoint_fingerprint(directory: Path, weight_files: Collection[str] = ()) -> str:
    """sha256 over config.json and each weight file's name, size, first and last MiB.

    Weight files are the ``.safetensors`` and ``.bin`` files and those named in ``weight_files``.
    Hashing every byte of a multi-GB checkpoint would take minutes; this changes whenever a file is
    replaced, resized or re-saved, and the Hub revision (recorded beside it) pins the exact release.
    """
    digest = hashlib.sha256((directory / "config.json").read_bytes())
    for path in sorted(directory.glob("*")):
        if path.suffix in (".safetensors", ".bin") or path.name in weight_files:
            size = path.stat().st_size
            digest.update(f"{path.name}:{size}".encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, size - (1 << 20)))
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()


# Files whose content decides what a model computes or says: weights, configs, tokenizer and
# processor files, chat templates, remote code. READMEs, licences and git attributes do not.
CONTENT_SUFFIXES = (*WEIGHT_SUFFIXES, ".json", ".txt", ".model", ".jinja", ".tiktoken", ".py", ".npz")
SAMPLED_BLOCKS = 32
BLOCK = 1 << 16


def content_fingerprint(path: Path) -> str:
    """A cheap fingerprint of a file's content: its size and a sha256 of its head, tail and 32 blocks between.

    About 4 MiB read per file whatever its size, so every shard of a 7B model is fingerprinted in
    well under a second; re-saving, fine-tuning or swapping a file changes it, moving it does not.
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        if size <= (2 << 20) + SAMPLED_BLOCKS * BLOCK:
            digest.update(handle.read())
        else:
            digest.update(handle.read(1 << 20))
            for i in range(1, SAMPLED_BLOCKS + 1):
                handle.seek((size - BLOCK) * i // (SAMPLED_BLOCKS + 1))
                digest.update(handle.read(BLOCK))
            handle.seek(size - (1 << 20))
            digest.update(handle.read(1 << 20))
    return f"{size}:{digest.hexdigest()[:20]}"


def model_file_fingerprints(sources: Mapping[str, Path]) -> dict[str, str]:
    """``{"role/file": fingerprint}`` of every content file a model reads; ``sources`` maps a role to a file or folder.

    A role names what the file is for (``lm``, ``checkpoint``, ``vision_pretrained``), so the same
    files in another place give the same keys. Folders are walked (symbolic links followed, as the
    Hugging Face cache's snapshots are links to blobs).
    """
    found: dict[str, str] = {}
    for role, source in sorted(sources.items()):
        if source.is_file():
            found[role] = content_fingerprint(source)
        elif source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.suffix in CONTENT_SUFFIXES and path.is_file() and not path.name.startswith("."):
                    found[f"{role}/{path.relative_to(source).as_posix()}"] = content_fingerprint(path)
    return found


def fingerprint_changes(saved: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """What differs between the files a run was made with and the files given now, a line per file."""
    changed = [
        f"{key} has other content" for key in sorted(saved.keys() & current.keys()) if saved[key] != current[key]
    ]
    missing = [f"{key} is not among the files given now" for key in sorted(saved.keys() - current.keys())]
    added = [f"{key} was not read by the run" for key in sorted(current.keys() - saved.keys())]
    return changed + missing + added
