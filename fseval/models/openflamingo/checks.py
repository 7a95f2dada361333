"""What can be checked of an OpenFlamingo model's files before loading it (no torch, no weights read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fseval.errors import FsevalError
from fseval.models.files import checkpoint_problem, model_dir_problems


def problems(arguments: dict[str, Any]) -> list[str]:
    """Every missing or damaged file the load would stumble on, a preset's resolved first."""
    if "preset" in arguments:
        from fseval.models.openflamingo.presets import resolve_preset

        overrides = {k: v for k, v in arguments.items() if k not in ("preset", "name")}
        try:
            arguments = resolve_preset(arguments["preset"], **overrides)
        except FsevalError as error:
            return [str(error)]
    found: list[str] = []
    if arguments.get("checkpoint"):
        found += _some(checkpoint_problem(Path(arguments["checkpoint"])))
    lm = arguments.get("lm")
    if isinstance(lm, str) and Path(lm).expanduser().is_dir():
        found += model_dir_problems(Path(lm).expanduser())
    elif isinstance(lm, str) and (Path(lm).is_absolute() or lm.startswith((".", "~"))):
        found.append(f"lm {lm} does not exist")
    pretrained, config = arguments.get("vision_pretrained"), arguments.get("vision_config")
    if isinstance(pretrained, str) and Path(pretrained).suffix in (".safetensors", ".bin", ".pt", ".pth"):
        found += _some(checkpoint_problem(Path(pretrained)))
    if isinstance(config, str):
        found += _json_problem(Path(config))
    return found


def _some(problem: str | None) -> list[str]:
    return [] if problem is None else [problem]


def _json_problem(path: Path) -> list[str]:
    if not path.is_file():
        return [f"vision_config {path} does not exist"]
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return [f"vision_config {path} does not parse ({error})"]
    return []
