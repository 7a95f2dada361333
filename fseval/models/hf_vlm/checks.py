"""What can be checked of an hf_vlm checkpoint before loading it (no torch, no weights read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.errors import FsevalError
from fseval.models.files import model_dir_problems
from fseval.models.hf_vlm.checkpoint import check_files, resolve_checkpoint
from fseval.models.hf_vlm.settings import VIDEO


def problems(arguments: dict[str, Any]) -> list[str]:
    """The checkpoint is on this machine, complete, of a supported architecture, and its files whole."""
    try:
        directory, repo_id = resolve_checkpoint(str(arguments.get("path", "")))
        check_files(directory, repo_id)
    except FsevalError as error:
        return [str(error)]
    return model_dir_problems(directory)


def files(arguments: dict[str, Any]) -> dict[str, Path]:
    """The checkpoint folder: weights, configs, tokenizer and processor files."""
    path = str(arguments.get("path", ""))
    directory, _ = resolve_checkpoint(path)
    return {"model": directory}


def video_problems(arguments: dict[str, Any]) -> list[str]:
    """Why the checkpoint cannot run a video task (its architecture takes stills only); read from its config.json.

    Problems with the files themselves are ``problems``'s to report; none is repeated here.
    """
    try:
        directory, repo_id = resolve_checkpoint(str(arguments.get("path", "")))
        arch = check_files(directory, repo_id)
    except FsevalError:
        return []
    if arch in VIDEO:
        return []
    return [
        f"{directory} holds a {arch!r} model, which takes single images, not video clips; "
        f"video tasks need an hf_vlm model of architecture {', '.join(VIDEO)}, or the openflamingo family."
    ]
