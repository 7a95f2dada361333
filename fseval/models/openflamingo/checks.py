"""What can be checked of an OpenFlamingo model's files before loading it (no torch, no weights read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fseval.errors import FsevalError
from fseval.models.files import checkpoint_problem, model_dir_problems, tokenizer_problems


def resolved(arguments: dict[str, Any]) -> dict[str, Any]:
    """The loader's arguments, a preset's looked up on this machine (``FsevalError`` for missing files)."""
    if "preset" not in arguments:
        return arguments
    from fseval.models.openflamingo.presets import resolve_preset

    overrides = {k: v for k, v in arguments.items() if k not in ("preset", "name")}
    return resolve_preset(arguments["preset"], **overrides)


def files(arguments: dict[str, Any]) -> dict[str, Path]:
    """Every file or folder the model reads, by role (the vision tower's open_clip weights where local)."""
    arguments = resolved(arguments)
    roles = ("lm", "tokenizer", "checkpoint", "vision_pretrained", "vision_config")
    found = {role: Path(arguments[role]).expanduser() for role in roles if isinstance(arguments.get(role), str)}
    if not found.get("vision_pretrained", Path()).is_file():
        found.pop("vision_pretrained", None)
        from fseval.models.hub import open_clip_weights

        cached = open_clip_weights(str(arguments.get("vision_encoder")), arguments.get("vision_pretrained"))
        if cached is not None:
            found["vision_pretrained"] = cached
    if "tokenizer" in found and found["tokenizer"].resolve() == found.get("lm", Path()).resolve():
        del found["tokenizer"]  # the LM's own tokenizer: its files are fingerprinted once, as lm/...
    return {role: path for role, path in found.items() if path.exists()}


def problems(arguments: dict[str, Any]) -> list[str]:
    """Every missing or damaged file the load would stumble on, a preset's resolved first."""
    try:
        arguments = resolved(arguments)
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
    tokenizer = arguments.get("tokenizer") or lm
    role = "tokenizer" if arguments.get("tokenizer") else "lm"
    if isinstance(tokenizer, str) and Path(tokenizer).expanduser().is_dir():
        found += tokenizer_problems(Path(tokenizer).expanduser(), role)
    elif role == "tokenizer" and isinstance(tokenizer, str) and tokenizer.startswith(("/", ".", "~")):
        found.append(f"tokenizer {tokenizer} does not exist")
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
