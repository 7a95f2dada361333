"""IDEFICS, HuggingFace M4's Flamingo re-implementation, as an fseval model family.

``load`` finds and checks a checkpoint and builds the adapter (``loader.py``, ``adapter.py``; ``build``
is what the registry calls with the validated settings),
``to_idefics_text`` maps fseval's interleaved prompts to IDEFICS's tokens (``inputs.py``),
``make_tiny_idefics`` writes a tiny random checkpoint (``tiny.py``). Importing the package imports
neither torch nor transformers; each name loads its module when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "IdeficsAdapter": "adapter",
    "load": "loader",
    "build": "loader",
    "PRESETS": "settings",
    "IdeficsSettings": "settings",
    "make_tiny_idefics": "tiny",
    "to_idefics_text": "inputs",
}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)


__all__ = list(_NAMES)
