"""Find an IDEFICS checkpoint on disk: a local directory or the Hugging Face cache, never a download.

Released checkpoints are 18 GB (9B) to 160 GB (80B), so fseval does not fetch them behind the user's
back: a missing checkpoint is an error that says which files are missing and the command that gets
them.
"""

from __future__ import annotations

from pathlib import Path

from fseval.errors import FsevalError
from fseval.models.files import index_shards

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
LAYOUT = (
    "config.json, model.safetensors (or model-0000N-of-0000M.safetensors + model.safetensors.index.json), "
    "tokenizer.json or tokenizer.model, tokenizer_config.json, preprocessor_config.json"
)


def resolve_checkpoint(path: str) -> tuple[Path, str | None]:
    """Return (directory, Hub repo id or None) for a local directory or a repo id in the HF cache."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local, None
    if local.is_absolute() or path.startswith((".", "~")) or path.count("/") != 1:
        raise FsevalError(f"IDEFICS checkpoint directory {path!r} does not exist.", hint=_download_hint(None, path))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(path, local_files_only=True)), path
    except (LocalEntryNotFoundError, HFValidationError, OSError) as error:
        raise FsevalError(
            f"IDEFICS checkpoint {path!r} is neither a directory nor in the Hugging Face cache ({error}).",
            hint=_download_hint(path, None),
        ) from None


def check_files(directory: Path, repo_id: str | None) -> None:
    """Raise an ``FsevalError`` listing every missing file, including missing weight shards."""
    missing = []
    if not (directory / "config.json").is_file():
        missing.append("config.json")
    weights = [name for name in WEIGHT_FILES if (directory / name).is_file()]
    if not weights:
        missing.append(" or ".join(WEIGHT_FILES[:2]))
    for index in (name for name in weights if name.endswith(".index.json")):
        shards = index_shards(directory / index)
        missing += [shard for shard in shards if not (directory / shard).is_file()]
    for group in (TOKENIZER_FILES, IMAGE_PROCESSOR_FILES):
        if not any((directory / name).is_file() for name in group):
            missing.append(" or ".join(group))
    if missing:
        raise FsevalError(
            f"IDEFICS checkpoint at {directory} is incomplete; missing: {', '.join(missing)}.",
            hint=f"Expected: {LAYOUT}. {_download_hint(repo_id, str(directory))}",
        )


def _download_hint(repo_id: str | None, directory: str | None) -> str:
    if repo_id is not None:
        return f"Download it where there is network: hf download {repo_id} (and copy the HF cache here)."
    target = directory or "DIR"
    return (
        f"Download a release with: hf download HuggingFaceM4/idefics-9b --local-dir {target} "
        "(or pass a preset: idefics-9b, idefics-9b-instruct, idefics-80b, idefics-80b-instruct); "
        "for a tiny test model: fseval.models.idefics.make_tiny_idefics(DIR)."
    )
