"""Find a checkpoint on this machine: a local directory, a preset or a repo id in the Hugging Face cache.

Nothing is downloaded: a checkpoint that is not here is an error naming the ``hf download`` command
that fetches it. Light (no torch): the preflight checks use it before anything loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from fseval.errors import FsevalError
from fseval.models.files import index_shards
from fseval.models.hf_vlm.settings import ARCHITECTURES, PRESETS

WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", *WEIGHT_INDEXES)
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def repo_of(path: str) -> str:
    """The Hub repo a preset stands for, or ``path`` itself."""
    return PRESETS[path].repo if path in PRESETS else path


def resolve_checkpoint(path: str) -> tuple[Path, str | None]:
    """(directory, Hub repo id or None) for a local directory, a preset, or a repo id in the HF cache."""
    target = repo_of(path)
    local = Path(target).expanduser()
    if local.is_dir():
        return local, None
    if local.is_absolute() or target.startswith((".", "~")) or target.count("/") != 1:
        raise FsevalError(f"Model directory {path!r} does not exist.", hint=download_hint(None, target))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(target, local_files_only=True)), target
    except (LocalEntryNotFoundError, HFValidationError, OSError) as error:
        raise FsevalError(
            f"{target} is not in the Hugging Face cache on this machine ({type(error).__name__}).",
            hint=download_hint(target, None),
        ) from None


def check_files(directory: Path, repo_id: str | None) -> str:
    """The checkpoint's architecture (``model_type``); an ``FsevalError`` lists every missing file."""
    missing = [name for name in ("config.json",) if not (directory / name).is_file()]
    weights = [name for name in WEIGHT_FILES if (directory / name).is_file()]
    if not weights:
        missing.append(" or ".join(WEIGHT_FILES[:2]))
    for index in (name for name in weights if name in WEIGHT_INDEXES):
        shards = index_shards(directory / index)
        missing += [shard for shard in shards if not (directory / shard).is_file()]
    for group in (PROCESSOR_FILES, TOKENIZER_FILES):
        if not any((directory / name).is_file() for name in group):
            missing.append(" or ".join(group))
    if missing:
        raise FsevalError(
            f"The checkpoint at {directory} is incomplete; missing: {', '.join(missing)}.",
            hint=download_hint(repo_id, str(directory)),
        )
    try:
        model_type = json.loads((directory / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise FsevalError(
            f"{directory / 'config.json'} does not parse ({error}).", hint=download_hint(repo_id, str(directory))
        ) from None
    if model_type not in ARCHITECTURES:
        raise FsevalError(
            f"{directory} holds a {model_type!r} model, which the hf_vlm family does not run.",
            hint=f"Supported architectures: {', '.join(ARCHITECTURES)} (docs/modern_vlms.md).",
        )
    return str(model_type)


def download_hint(repo_id: str | None, directory: str | None) -> str:
    if repo_id is not None:
        return f"Download it where there is network: hf download {repo_id} (then copy the Hugging Face cache here)."
    target = directory or "DIR"
    example = next(iter(PRESETS.values())).repo
    return (
        f"Download a release with: hf download {example} --local-dir {target}, or use a preset "
        f"({', '.join(PRESETS)}) once `hf download REPO` has put it in the cache; "
        "for a tiny test model: fseval make-tiny DIR --family hf_vlm --arch idefics2."
    )
