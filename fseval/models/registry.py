"""Model families and presets: one table, each family imported only when a model of it loads.

A ``--model`` value is a bundled model (``tiny-shapes``), a directory with a model card, a preset
(a name for a set of a family's arguments) or a family name used with ``--model-arg``. ``resolve``
turns it into a family and arguments, and ``check`` validates those against the family's settings
model, both without importing torch, so a typo is reported before any weights load.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fseval.devices import resolve_device
from fseval.errors import FsevalError, UnknownNameError
from fseval.models.base import ModelAdapter
from fseval.models.card import CARD_NAME, has_card, read_card
from fseval.models.idefics.settings import PRESETS as IDEFICS_PRESETS
from fseval.models.idefics.settings import IdeficsSettings
from fseval.models.mock import MockSettings
from fseval.models.openflamingo.settings import PRESETS as OPENFLAMINGO_PRESETS
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.models.settings import FamilySettings, validate_settings
from fseval.resources import ASSETS_DIR


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    settings: type[FamilySettings]
    loader: str  # "module:function", imported when a model of the family loads
    takes_device: bool = True
    compat_modes: tuple[str, ...] = ()  # what ``fseval run --compat`` can ask of its ranking


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    args: dict[str, Any]
    description: str


FAMILIES = {
    family.name: family
    for family in (
        Family(
            "openflamingo",
            "OpenFlamingo-style models from their parts (open_clip vision tower, Hugging Face LM, checkpoint.pt)",
            OpenFlamingoSettings,
            "fseval.models.openflamingo:load",
            compat_modes=("openflamingo",),
        ),
        Family(
            "idefics",
            "IDEFICS through transformers' IdeficsForVisionText2Text",
            IdeficsSettings,
            "fseval.models.idefics:load",
        ),
        Family(
            "mock",
            "Deterministic test model (mode=majority|copy-demo|field|constant)",
            MockSettings,
            "fseval.models.mock:load",
            takes_device=False,
            compat_modes=("openflamingo",),  # its scores have no batch to depend on; the prompts follow
        ),
    )
}
PRESETS: dict[str, Preset] = {
    **{
        name: Preset(name, "openflamingo", {"preset": name}, preset.description)
        for name, preset in OPENFLAMINGO_PRESETS.items()
    },
    **{name: Preset(name, "idefics", {"path": name}, args["path"]) for name, args in IDEFICS_PRESETS.items()},
}
# Model directories shipped inside fseval; "tiny-shapes" is the default --model.
BUNDLED = {"tiny-shapes": "tiny Flamingo trained on the bundled shapes world (scripts/train_tiny_shapes.py)"}
DEFAULT_MODEL = "tiny-shapes"


def resolve(name: str, args: dict[str, Any]) -> tuple[Family, dict[str, Any]]:
    """The family of a ``--model`` value and its loader's arguments (``args`` override a card's or preset's)."""
    directory = ASSETS_DIR / name if name in BUNDLED else Path(name)
    if has_card(directory):
        card = read_card(directory)
        if card.family not in FAMILIES:
            raise UnknownNameError(f"model family in {directory}'s card", card.family, FAMILIES)
        named = {"name": card.name} if card.name else {}
        return FAMILIES[card.family], {**card.arguments(directory), **named, **args}
    if name in PRESETS:
        preset = PRESETS[name]
        return FAMILIES[preset.family], {**preset.args, **args}
    if name in FAMILIES:
        return FAMILIES[name], dict(args)
    if directory.exists():
        raise FsevalError(
            f"{name} has no {CARD_NAME}.", hint="Point --model at a directory written by fseval make-tiny."
        )
    raise UnknownNameError("model", name, [*BUNDLED, *FAMILIES, *PRESETS], listing="fseval models")


def check(family: Family, args: dict[str, Any]) -> FamilySettings:
    """The family's settings for ``args``: every bad key or value reported at once, before loading."""
    arguments = {key: value for key, value in args.items() if key != "name"}
    preset = arguments.pop("preset", None)
    if preset is not None:  # the preset's arguments as published, under the user's overrides
        fields = asdict(OPENFLAMINGO_PRESETS[preset])
        fields.pop("description"), fields.pop("checkpoint_repo"), fields.pop("checkpoint_file")
        arguments = {**fields, **arguments}
    return validate_settings(family.settings, family.name, arguments)


def load_model(name: str, args: dict[str, Any], device: str = "cpu", precision: str = "fp32") -> ModelAdapter:
    """A bundled model, a model directory, a preset, or a family name with ``args``."""
    family, arguments = resolve(name, args)
    check(family, arguments)
    module, _, function = family.loader.partition(":")
    load = getattr(importlib.import_module(module), function)
    if not family.takes_device:
        return load(**arguments)
    return load(**arguments, device=resolve_device(device), precision=precision)
