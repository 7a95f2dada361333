"""Model families and presets, found by a folder scan; each family imported only when a model of it loads.

A family is a package under ``fseval/models/`` whose ``settings.py`` declares ``FAMILY`` (its
arguments, loader and presets); nothing else lists it. A ``--model`` value is a bundled model
(``tiny-shapes``), a directory with a model card, a preset (a name for a set of a family's
arguments) or a family name used with ``--model-arg``. ``resolve``
turns it into a family and arguments, and ``check`` validates those against the family's settings
model, both without importing torch, so a typo is reported before any weights load. ``checked``
does both; ``build`` hands what it validated, whole, to the family's loader:

    loader(settings, name=..., preset=..., device=..., precision=..., compat=...)

``name`` (a card's), ``preset`` (the preset the arguments name) and ``compat`` (the code whose
ranking numerics the model reproduces, one of the family's ``compat_modes``) only where given;
``device`` and ``precision`` unless the family declares ``takes_device=False``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fseval.devices import resolve_device
from fseval.errors import FsevalError, UnknownNameError
from fseval.models.base import ModelAdapter
from fseval.models.card import CARD_NAME, has_card, read_card
from fseval.models.settings import Family, FamilySettings, Preset, RunNeeds, validate_settings
from fseval.resources import ASSETS_DIR


def _declared_families() -> dict[str, Family]:
    """Every family whose package has a ``settings.py`` declaring ``FAMILY`` (light: no torch)."""
    import fseval.models

    families = {}
    for package in pkgutil.iter_modules(fseval.models.__path__):
        # (The decoding engine is a package too, with no settings.py: not a family.)
        if package.ispkg and importlib.util.find_spec(f"fseval.models.{package.name}.settings") is not None:
            module = importlib.import_module(f"fseval.models.{package.name}.settings")
            family: Family = module.FAMILY
            families[family.name] = family
    return dict(sorted(families.items()))


FAMILIES = _declared_families()
PRESETS: dict[str, tuple[Family, Preset]] = {
    preset.name: (family, preset) for family in FAMILIES.values() for preset in family.presets
}
# Model directories shipped inside fseval; "tiny-shapes" is the default --model.
BUNDLED = {"tiny-shapes": "tiny Flamingo trained on the bundled shapes world (scripts/train_tiny_shapes.py)"}


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
        family, preset = PRESETS[name]
        return family, {**preset.args, **args}
    if name in FAMILIES:
        return FAMILIES[name], dict(args)
    if directory.exists():
        raise FsevalError(
            f"{name} has no {CARD_NAME}.", hint="Point --model at a directory written by fseval make-tiny."
        )
    raise UnknownNameError("model", name, [*BUNDLED, *FAMILIES, *PRESETS], listing="fseval models")


def preset_named(family: Family, arguments: dict[str, Any]) -> Preset | None:
    """The family's preset that ``arguments`` name (``{"preset": "openflamingo-9b"}``, ``{"path": "idefics-9b"}``)."""
    return next((p for p in family.presets if p.args.items() <= arguments.items()), None)


def check(family: Family, args: dict[str, Any]) -> FamilySettings:
    """The family's settings for ``args``: every bad key or value reported at once, before loading.

    A preset's arguments are checked as what they stand for, under the user's overrides.
    """
    arguments = {key: value for key, value in args.items() if key != "name"}
    named = preset_named(family, arguments)
    if named is not None:
        arguments = {**named.settings, **{k: v for k, v in arguments.items() if k not in named.args}}
    return validate_settings(family.settings, family.name, arguments)


@dataclass(frozen=True)
class CheckedModel:
    """A ``--model`` value resolved and its arguments validated, before any weights load: what ``build`` loads."""

    family: Family
    arguments: dict[str, Any]  # as resolved (a card's paths made absolute): what the file checks read
    settings: FamilySettings  # validated once, here; the loader and the adapter get this object
    preset: str | None = None  # the preset the arguments name
    name: str | None = None  # the model card's name for the model


def checked(name: str, args: dict[str, Any]) -> CheckedModel:
    """``resolve`` and ``check``: a bad name, key or value is an ``FsevalError`` before anything loads."""
    family, arguments = resolve(name, args)
    named, card_name = preset_named(family, arguments), arguments.get("name")
    preset = named.name if named is not None else None
    return CheckedModel(family, arguments, check(family, arguments), preset, str(card_name) if card_name else None)


def file_problems(family: Family, args: dict[str, Any]) -> list[str]:
    """What is wrong with the model's files (missing, truncated, unparseable), found without loading them."""
    if family.file_checks is None:
        return []
    module, _, function = family.file_checks.partition(":")
    found: list[str] = getattr(importlib.import_module(module), function)(args)
    return found


def video_problems(family: Family, args: dict[str, Any]) -> list[str]:
    """Why the model cannot take video clips (its architecture takes stills), found without loading it."""
    if family.video_checks is None:
        return []
    module, _, function = family.video_checks.partition(":")
    found: list[str] = getattr(importlib.import_module(module), function)(args)
    return found


def run_problems(family: Family, args: dict[str, Any], needs: RunNeeds) -> list[str]:
    """Why the model cannot serve a run that needs ``needs`` (a served model's preflight), before any sample."""
    if family.run_checks is None:
        return []
    module, _, function = family.run_checks.partition(":")
    found: list[str] = getattr(importlib.import_module(module), function)(args, needs)
    return found


def model_files(family: Family, args: dict[str, Any]) -> dict[str, str]:
    """Fingerprints of every file the model reads (``{"lm/model.safetensors": ...}``), without loading it."""
    from fseval.models.files import model_file_fingerprints

    if family.model_files is None:
        return {}
    module, _, function = family.model_files.partition(":")
    sources: dict[str, Path] = getattr(importlib.import_module(module), function)(args)
    return model_file_fingerprints(sources)


def tiny_builder(family_name: str, options: dict[str, str | None]) -> Callable[[Path, int], object]:
    """How to write a tiny random model of a family (``fseval make-tiny``), checked before anything is written.

    ``options`` are make-tiny's variant options as given (``{"--lm": "mpt", "--arch": None}``): the
    family's own picks the variant (its first when not given); another one given is an error.
    """
    families = {name: family for name, family in FAMILIES.items() if family.tiny is not None}
    if family_name not in families:
        raise UnknownNameError("make-tiny family", family_name, families)
    tiny = families[family_name].tiny
    assert tiny is not None
    stray = [option for option, value in options.items() if value is not None and option != tiny.option]
    if stray:
        raise FsevalError(f"{', '.join(stray)} does not apply to --family {family_name}.")
    keywords: dict[str, str] = {}
    if tiny.keyword is not None and tiny.option is not None:
        chosen = options.get(tiny.option) or tiny.variants[0]
        if chosen not in tiny.variants:
            raise FsevalError(f"{tiny.option} {chosen!r}: one of {', '.join(tiny.variants)}.")
        keywords[tiny.keyword] = chosen
    module, _, function = tiny.builder.partition(":")
    build = getattr(importlib.import_module(module), function)
    return lambda directory, seed: build(directory, seed=seed, **keywords)


def build(model: CheckedModel, device: str = "cpu", precision: str = "fp32", compat: str | None = None) -> ModelAdapter:
    """The family's adapter for a checked model, its settings handed over as validated."""
    if compat is not None and compat not in model.family.compat_modes:
        raise FsevalError(f"The {model.family.name} family cannot rank as --compat {compat} asks.")
    module, _, function = model.family.loader.partition(":")
    load = getattr(importlib.import_module(module), function)
    given = {"name": model.name, "preset": model.preset, "compat": compat}
    options = {key: value for key, value in given.items() if value is not None}
    if model.family.takes_device:
        options.update(device=resolve_device(device), precision=precision)
    adapter: ModelAdapter = load(model.settings, **options)
    return adapter


def load_model(
    name: str, args: dict[str, Any], device: str = "cpu", precision: str = "fp32", compat: str | None = None
) -> ModelAdapter:
    """A bundled model, a model directory, a preset, or a family name with ``args``, validated once."""
    return build(checked(name, args), device, precision, compat)
