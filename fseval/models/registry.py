"""Model families and presets, imported only when used."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fseval.devices import resolve_device
from fseval.errors import FsevalError, UnknownNameError
from fseval.models.base import ModelAdapter
from fseval.resources import ASSETS_DIR

MODEL_CARD = "fseval-model.json"


@dataclass(frozen=True)
class Family:
    name: str
    module: str
    description: str
    takes_device: bool = True
    compat_modes: tuple[str, ...] = ()  # what ``fseval run --compat`` can ask of its ranking


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    args: dict[str, Any] = field(default_factory=dict)
    description: str = ""


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "openflamingo",
            "fseval.models.openflamingo",
            "OpenFlamingo: one --model-arg KEY=VALUE each for vision_encoder, vision_pretrained, lm, tokenizer, "
            "checkpoint, cross_attn_every_n_layers [vision_config, frame_embeddings, vision_token_ln, "
            "clean_up_tokenization_spaces]",
            compat_modes=("openflamingo",),
        ),
        Family(
            "idefics",
            "fseval.models.idefics",
            "IDEFICS via transformers: --model-arg path=DIR|REPO [end_of_chunk=newline|end_of_utterance, "
            "cross_attention_gate]",
        ),
        Family(
            "mock",
            "fseval.models.mock",
            "Deterministic test model (mode=majority|copy-demo|field|constant).",
            takes_device=False,
            compat_modes=("openflamingo",),  # its scores have no batch to depend on; the prompts follow
        ),
    )
}

# Listed here rather than imported from the families, whose modules import torch.
_OPENFLAMINGO = {
    "openflamingo-3b": "ViT-L-14 + MPT-1B (RedPajama 200B), cross-attention every layer",
    "openflamingo-3b-instruct": "ViT-L-14 + MPT-1B Dolly-tuned, cross-attention every layer",
    "openflamingo-4b": "ViT-L-14 + RedPajama-INCITE-Base-3B, cross-attention every 2 layers",
    "openflamingo-4b-instruct": "ViT-L-14 + RedPajama-INCITE-Instruct-3B, cross-attention every 2 layers",
    "openflamingo-9b": "ViT-L-14 + MPT-7B, cross-attention every 4 layers",
}
_IDEFICS = {
    "idefics-9b": "HuggingFaceM4/idefics-9b",
    "idefics-9b-instruct": "HuggingFaceM4/idefics-9b-instruct",
    "idefics-80b": "HuggingFaceM4/idefics-80b",
    "idefics-80b-instruct": "HuggingFaceM4/idefics-80b-instruct",
}
# Model directories shipped inside fseval; "tiny-shapes" is the default --model.
BUNDLED = {"tiny-shapes": "tiny Flamingo trained on the bundled shapes world (scripts/train_tiny_shapes.py)"}
DEFAULT_MODEL = "tiny-shapes"

PRESETS: dict[str, Preset] = {
    **{name: Preset(name, "openflamingo", {"preset": name}, text) for name, text in _OPENFLAMINGO.items()},
    **{name: Preset(name, "idefics", {"path": name}, text) for name, text in _IDEFICS.items()},
}


def _load_family(family: Family, args: dict[str, Any], device: str, precision: str) -> ModelAdapter:
    module = importlib.import_module(family.module)
    if family.takes_device:
        device = resolve_device(device)
    try:
        if family.takes_device:
            return module.load(**args, device=device, precision=precision)  # type: ignore[no-any-return]
        return module.load(**args)  # type: ignore[no-any-return]
    except TypeError as e:
        raise FsevalError(f"Bad --model-arg for {family.name!r}: {e}.", hint=f"See: fseval models {family.name}") from e


def model_family(name: str) -> Family | None:
    """The family a ``--model`` value names, found without loading anything (None: not known yet)."""
    if name in BUNDLED:
        name = str(ASSETS_DIR / name)
    card = Path(name) / MODEL_CARD
    if card.is_file():
        try:
            family = json.loads(card.read_text()).get("family")
        except (OSError, ValueError):
            return None
        return FAMILIES.get(family) if isinstance(family, str) else None
    if name in PRESETS:
        return FAMILIES[PRESETS[name].family]
    return FAMILIES.get(name)


def load_model(name: str, args: dict[str, Any], device: str = "cpu", precision: str = "fp32") -> ModelAdapter:
    """A preset name, a family name with ``args``, or a directory holding an fseval model card."""
    if name in BUNDLED:
        name = str(ASSETS_DIR / name)
    card = Path(name) / MODEL_CARD
    if card.is_file():
        spec = json.loads(card.read_text())
        family = FAMILIES[spec["family"]]
        base = {k: str(Path(name) / v) if k in spec.get("paths", ()) else v for k, v in spec["args"].items()}
        return _load_family(family, {**base, **args}, device, precision)
    if name in PRESETS:
        preset = PRESETS[name]
        return _load_family(FAMILIES[preset.family], {**preset.args, **args}, device, precision)
    if name in FAMILIES:
        return _load_family(FAMILIES[name], args, device, precision)
    if Path(name).exists():
        raise FsevalError(
            f"{name} has no {MODEL_CARD}.", hint="Point --model at a directory written by fseval make-tiny."
        )
    raise UnknownNameError("model", name, [*FAMILIES, *PRESETS], listing="fseval models")
