"""OpenFlamingo (Awadalla et al. 2023), an open reproduction of Flamingo (Alayrac et al. 2022).

Entry points: ``load`` (a preset or the family's arguments), ``build`` (what the registry calls
with validated settings), ``load_model_dir`` (a directory with an fseval model card),
``resolve_preset`` / ``PRESETS`` (the released models) and ``make_tiny`` (tiny random models).
Importing the package imports neither torch nor transformers; each name loads its module when first
used (``settings.py`` is what the registry reads before loading).
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "OpenFlamingoAdapter": "adapter",
    "Flamingo": "flamingo",
    "build": "loader",
    "PRESETS": "settings",
    "OpenFlamingoSettings": "settings",
    "resolve_preset": "presets",
    "load_model_dir": "tiny",
    "make_tiny": "tiny",
}


def load(
    preset: str | None = None,
    *,
    device: str = "cpu",
    precision: str = "fp32",
    name: str | None = None,
    compat: str | None = None,
    **arguments: Any,
) -> Any:
    """``load(preset="openflamingo-9b", ...)`` or ``load(lm=..., checkpoint=..., ...)``.

    With a preset, the other arguments override its values (``checkpoint=/local/checkpoint.pt``).
    ``arguments`` are validated as ``--model-arg`` values are (``OpenFlamingoSettings``), through the
    registry, which hands them to ``loader.build``.
    """
    from fseval.models.registry import load_model

    if preset is not None:
        from fseval.errors import UnknownNameError
        from fseval.models.openflamingo.settings import PRESETS

        if preset not in PRESETS:
            raise UnknownNameError("model preset", preset, PRESETS, listing="fseval models")
        arguments["preset"] = preset
    if name is not None:
        arguments["name"] = name
    return load_model("openflamingo", arguments, device, precision, compat)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_NAMES[name]}")
    return getattr(module, name)


__all__ = ["load", *_NAMES]
