"""What can be checked of an IDEFICS checkpoint before loading it (no torch, no weights read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.errors import FsevalError
from fseval.models.files import model_dir_problems
from fseval.models.idefics.checkpoint import check_files, resolve_checkpoint
from fseval.models.idefics.settings import PRESETS


def problems(arguments: dict[str, Any]) -> list[str]:
    """The checkpoint is on this machine, complete, and its files whole."""
    path = str(arguments.get("path", ""))
    try:
        directory, repo_id = resolve_checkpoint(PRESETS.get(path, {}).get("path", path))
        check_files(directory, repo_id)
    except FsevalError as error:
        return [str(error)]
    return model_dir_problems(directory)


def files(arguments: dict[str, Any]) -> dict[str, Path]:
    """The checkpoint folder: weights, configs, tokenizer and processor files."""
    path = str(arguments.get("path", ""))
    directory, _ = resolve_checkpoint(PRESETS.get(path, {}).get("path", path))
    return {"model": directory}


def video_problems(arguments: dict[str, Any]) -> list[str]:
    """IDEFICS has no frame axis and was neither trained nor evaluated on video (its model card says so)."""
    return [
        "IDEFICS takes single images, not video clips (it has no frame axis; fed as an image sequence, a question "
        "would attend only to the last frame); video tasks need the openflamingo family or an hf_vlm model of "
        "architecture Qwen2-VL, Qwen2.5-VL or LLaVA-OneVision"
    ]
