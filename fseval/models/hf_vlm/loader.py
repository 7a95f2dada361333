"""Loading an hf_vlm checkpoint: a directory, a preset or a cached repo id, never a download."""

from __future__ import annotations

from typing import Any

from fseval.errors import FsevalError
from fseval.models.files import checkpoint_fingerprint, model_dir_problems
from fseval.models.hf_vlm.adapter import HfVlmAdapter
from fseval.models.hf_vlm.checkpoint import check_files, resolve_checkpoint
from fseval.models.hf_vlm.settings import HfVlmSettings
from fseval.models.settings import torch_dtype


def load(
    path: str, *, device: str = "cpu", precision: str = "fp32", name: str | None = None, **arguments: Any
) -> HfVlmAdapter:
    """The model and processor of a directory, a preset or a cached Hub repo id, on one device.

    ``precision`` casts the weights (fp32, bf16, fp16); ``arguments`` are ``HfVlmSettings``, validated
    as ``--model-arg`` values are (through the registry, which calls ``build``).
    """
    from fseval.models.registry import load_model

    named = {"name": name} if name is not None else {}
    adapter = load_model("hf_vlm", {"path": path, **arguments, **named}, device, precision)
    assert isinstance(adapter, HfVlmAdapter)
    return adapter


def build(
    settings: HfVlmSettings,
    *,
    name: str | None = None,
    preset: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> HfVlmAdapter:
    """The adapter for validated settings (``fseval.models.registry``; a preset's are what it stands for).

    The checkpoint's own generation settings are set aside (fseval decodes with the task's), its
    end-of-sequence tokens kept as stop tokens.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

    dtype = torch_dtype(precision)
    directory, repo_id = resolve_checkpoint(settings.path)
    arch = check_files(directory, repo_id)
    damaged = model_dir_problems(directory)
    if damaged:
        raise FsevalError("Cannot load the model: " + "; ".join(damaged))
    processor = AutoProcessor.from_pretrained(directory, local_files_only=True)
    attention = {"attn_implementation": settings.attn_implementation} if settings.attn_implementation else {}
    model = AutoModelForImageTextToText.from_pretrained(directory, dtype=dtype, local_files_only=True, **attention)
    model.to(device)  # type: ignore[arg-type]  # transformers' wrapper of .to() is typed as unbound
    eos = model.generation_config.eos_token_id
    model.generation_config = GenerationConfig()
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
        settings,
        arch=arch,
        name=name or preset or "hf_vlm",
        eos_token_ids=[eos] if isinstance(eos, int) else list(eos or []),
        provenance=provenance,
    )
