"""Finding released files on this machine: local paths and the Hugging Face cache, never a download.

Used by the families (a preset's checkpoint, language model, vision tower) and by the run's checks
(RICES's CLIP weights), so that a missing file is found before anything loads.
"""

from __future__ import annotations

from pathlib import Path


def cached_repo(repo: str) -> str | None:
    """A local directory for ``repo``: the path itself, or its Hugging Face cache snapshot."""
    if Path(repo).expanduser().is_dir():
        return str(Path(repo).expanduser())
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo, local_files_only=True)
    except Exception:  # LocalEntryNotFoundError, or an invalid repo id: either way, not on disk
        return None


def cached_file(repo: str, filename: str) -> str | None:
    """A local file: ``repo`` itself if it is one, else ``filename`` of ``repo`` in the Hugging Face cache."""
    if Path(repo).expanduser().is_file():
        return str(Path(repo).expanduser())
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo, filename, local_files_only=True)
    except Exception:
        return None


def open_clip_weights(name: str, tag: str | None) -> Path | None:
    """The Hugging Face cache's copy of open_clip's weights ``name``/``tag``, if this machine has it."""
    if not tag:
        return None
    import open_clip

    hub = (open_clip.get_pretrained_cfg(name, tag) or {}).get("hf_hub", "").strip("/")
    if not hub:
        return None
    found = (cached_file(hub, f) for f in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
    return next((Path(path) for path in found if path), None)


def open_clip_weights_available(name: str, tag: str) -> bool:
    """Whether open_clip can load ``name``/``tag`` without the network (a weights file, or the cache's copy)."""
    return Path(tag).expanduser().is_file() or open_clip_weights(name, tag) is not None
