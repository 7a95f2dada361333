"""OpenFlamingo (Awadalla et al. 2023), an open reproduction of Flamingo (Alayrac et al. 2022).

Entry points: ``load`` (a preset or the family's arguments), ``load_model_dir`` (a directory with
an fseval model card), ``resolve_preset`` / ``PRESETS`` (the released models) and ``make_tiny``
(tiny random models). Importing the package imports neither torch nor transformers; each name
loads its module when first used (``settings.py`` is what the registry reads before loading).
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "OpenFlamingoAdapter": "adapter",
    "Flamingo": "flamingo",
    "load_parts": "loader",
    "PRESETS": "settings",
    "OpenFlamingoSettings": "settings",
    "load_preset": "loader",
    "resolve_preset": "presets",
    "load_model_dir": "tiny",
    "make_tiny": "tiny",
}


def load(preset: str | None = None, **arguments: Any) -> Any:
    """``load(preset="openflamingo-9b", ...)`` or ``load(lm=..., checkpoint=..., ...)``.

    With a preset, the other arguments override its values (``checkpoint=/local/checkpoint.pt``).
    """
    if preset is not None:
        from fseval.models.openflamingo.loader import load_preset

        return load_preset(preset, **arguments)
    from fseval.models.openflamingo.loader import load as load_parts

    return load_parts(**arguments)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_NAMES[name]}")
    return getattr(module, "load" if name == "load_parts" else name)


__all__ = ["load", *_NAMES]
