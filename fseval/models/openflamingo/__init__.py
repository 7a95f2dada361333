"""OpenFlamingo (Awadalla et al. 2023), an open reproduction of Flamingo (Alayrac et al. 2022).

Entry points: ``load`` (family arguments), ``load_model_dir`` (a directory with an fseval model
card), ``load_preset`` / ``PRESETS`` (the released models) and ``make_tiny`` (tiny random models).
"""

from typing import Any

from fseval.models.openflamingo.adapter import OpenFlamingoAdapter
from fseval.models.openflamingo.flamingo import Flamingo
from fseval.models.openflamingo.loader import load as load_parts
from fseval.models.openflamingo.presets import PRESETS, load_preset, resolve_preset
from fseval.models.openflamingo.tiny import load_model_dir, make_tiny


def load(preset: str | None = None, **arguments: Any) -> OpenFlamingoAdapter:
    """``load(preset="openflamingo-9b", ...)`` or ``load(lm=..., checkpoint=..., ...)``.

    With a preset, the other arguments override its values (``checkpoint=/local/checkpoint.pt``).
    """
    if preset is not None:
        return load_preset(preset, **arguments)  # type: ignore[no-any-return]
    return load_parts(**arguments)


__all__ = [
    "PRESETS",
    "Flamingo",
    "OpenFlamingoAdapter",
    "load",
    "load_model_dir",
    "load_parts",
    "load_preset",
    "make_tiny",
    "resolve_preset",
]
