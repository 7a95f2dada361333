"""Loading an hf_vlm checkpoint: a directory, a preset or a cached repo id, never a download."""

from __future__ import annotations

from typing import Any

import torch

from fseval.errors import FsevalError
from fseval.models.files import checkpoint_fingerprint, model_dir_problems
from fseval.models.hf_vlm.adapter import HfVlmAdapter
from fseval.models.hf_vlm.checkpoint import check_files, resolve_checkpoint
from fseval.models.hf_vlm.settings import PRESETS, HfVlmSettings
from fseval.models.settings import validate_settings

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load(
    path: str, device: str = "cpu", precision: str = "fp32", name: str | None = None, **arguments: Any
) -> HfVlmAdapter:
    """The model and processor of a directory, a preset or a cached Hub repo id, on one device.

    ``precision`` casts the weights (fp32, bf16, fp16); ``arguments`` are ``HfVlmSettings``. The
    checkpoint's own generation settings are set aside (fseval decodes with the task's), its
    end-of-sequence tokens kept as stop tokens.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

    settings = validate_settings(HfVlmSettings, "hf_vlm", {"path": path, **arguments})
    if precision not in PRECISIONS:
        raise FsevalError(f"Unknown precision {precision!r}.", hint=f"Use one of {', '.join(PRECISIONS)}.")
    directory, repo_id = resolve_checkpoint(path)
    arch = check_files(directory, repo_id)
    damaged = model_dir_problems(directory)
    if damaged:
        raise FsevalError("Cannot load the model: " + "; ".join(damaged))
    processor = AutoProcessor.from_pretrained(directory, local_files_only=True)
    attention = {"attn_implementation": settings.attn_implementation} if settings.attn_implementation else {}
    model = AutoModelForImageTextToText.from_pretrained(
        directory, dtype=PRECISIONS[precision], local_files_only=True, **attention
    )
    model.to(device)  # type: ignore[arg-type]  # transformers' wrapper of .to() is typed as unbound
    eos = model.generation_config.eos_token_id
    model.generation_config = GenerationConfig()
    style = settings.prompt_style or (PRESETS[path].prompt_style if path in PRESETS else "interleaved")
    provenance = {
        "path": str(directory),
        "repo_id": repo_id,
        # Cached Hub snapshots live in snapshots/<commit>: the exact revision of the release.
        "revision": directory.name if directory.parent.name == "snapshots" else None,
        "checkpoint_fingerprint": checkpoint_fingerprint(directory),
        "precision": precision,
    }
    return HfVlmAdapter(
        model,
        processor,
        arch=arch,
        prompt_style=style,
        name=name or (path if path in PRESETS else "hf_vlm"),
        media_cache=settings.media_cache,
        media_cache_bytes=settings.media_cache_bytes,
        rank_batch_size=settings.rank_batch_size,
        decoding_loop=settings.decoding_loop,
        stop_lag=settings.stop_lag,
        eos_token_ids=[eos] if isinstance(eos, int) else list(eos or []),
        provenance=provenance,
    )
