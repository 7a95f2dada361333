"""Loading IDEFICS checkpoints: found on this machine, their files checked, the adapter given its settings."""

from __future__ import annotations

from typing import Any

import torch
from transformers import IdeficsForVisionText2Text, IdeficsProcessor

from fseval.errors import FsevalError
from fseval.models.engine import tokenization
from fseval.models.files import checkpoint_fingerprint, model_dir_problems
from fseval.models.idefics.adapter import IdeficsAdapter
from fseval.models.idefics.checkpoint import WEIGHT_FILES, check_files, resolve_checkpoint
from fseval.models.idefics.settings import IdeficsSettings
from fseval.models.settings import torch_dtype


def load(
    path: str,
    *,
    device: str = "cpu",
    precision: str = "fp32",
    name: str | None = None,
    **arguments: Any,
) -> IdeficsAdapter:
    """An IDEFICS model and processor from a directory, a preset name or a cached Hub repo id.

    ``precision`` casts the weights (fp32, bf16, fp16); ``arguments`` are ``IdeficsSettings``,
    validated as ``--model-arg`` values are (through the registry, which calls ``build``).
    """
    from fseval.models.registry import load_model

    named = {"name": name} if name is not None else {}
    adapter = load_model("idefics", {"path": path, **arguments, **named}, device, precision)
    assert isinstance(adapter, IdeficsAdapter)
    return adapter


def build(
    settings: IdeficsSettings,
    *,
    name: str | None = None,
    preset: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> IdeficsAdapter:
    """The adapter for validated settings (``fseval.models.registry``; a preset's are what it stands for).

    ``cross_attention_gate=False`` computes as transformers 4.32-4.35 did (``ungate_cross_attention``).
    """
    dtype = torch_dtype(precision)
    directory, repo_id = resolve_checkpoint(settings.path)
    check_files(directory, repo_id)
    damaged = model_dir_problems(directory)
    if damaged:
        raise FsevalError("Cannot load IDEFICS: " + "; ".join(damaged))
    # As on transformers 4.33, where IDEFICS was released: Pillow resizing (transformers 5 defaults to
    # torchvision's, 0.015 away) and the tokenizer's saved pipeline (docs/fidelity.md).
    processor = IdeficsProcessor.from_pretrained(directory, local_files_only=True, backend="pil")
    processor.tokenizer = tokenization.load_tokenizer(str(directory))
    placement: dict[str, Any] = {"device_map": settings.device_map} if settings.device_map else {}
    model = IdeficsForVisionText2Text.from_pretrained(directory, dtype=dtype, local_files_only=True, **placement)
    if not placement:
        model.to(device)  # type: ignore[arg-type]  # transformers' wrapper of .to() is typed as unbound
    if not settings.cross_attention_gate:
        ungate_cross_attention(model)
    provenance = {
        "path": str(directory),
        "repo_id": repo_id,
        # Cached Hub snapshots live in snapshots/<commit>: the exact revision of the release.
        "revision": directory.name if directory.parent.name == "snapshots" else None,
        "checkpoint_fingerprint": checkpoint_fingerprint(directory, WEIGHT_FILES),
        "precision": precision,
        "cross_attention_gate": settings.cross_attention_gate,
    }
    return IdeficsAdapter(model, processor, settings, name=name or preset or "idefics", provenance=provenance)


def ungate_cross_attention(model: IdeficsForVisionText2Text) -> None:
    """Let tokens that attend to no image keep their cross-attention output, as on IDEFICS's release.

    transformers 4.32-4.35 (IDEFICS was released on 4.32) gave a text token before any image (the
    BOS, the 0-shot text demos, padding) a uniform attention over every image of its prompt. 4.36
    zeroes that output (``cross_attention_gate``; transformers#26839, which its authors called a leak
    fix without effect on inference). With few-shot prompts whose 0-shot demos are text only, the
    two give different scores; this reproduces the release to fp32 rounding (tests/models/
    test_idefics_fidelity.py).
    """
    for layer in model.model.gated_cross_attn_layers:
        forward = layer.forward

        def ungated(*args: Any, _forward: Any = forward, cross_attention_gate: Any = None, **kwargs: Any) -> Any:
            gate = None if cross_attention_gate is None else torch.ones_like(cross_attention_gate)
            return _forward(*args, cross_attention_gate=gate, **kwargs)

        layer.forward = ungated
