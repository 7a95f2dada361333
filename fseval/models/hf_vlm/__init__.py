"""Today's open vision-language models (transformers' AutoModelForImageTextToText) as an fseval family.

``load`` finds and checks a checkpoint and builds the adapter (``loader.py``, ``adapter.py``;
``build`` is what the registry calls with the validated settings), the two prompt styles live in
``prompts.py``, ``make_tiny_hf_vlm`` writes a tiny random checkpoint of each architecture
(``tiny.py``). Importing the package imports neither torch nor transformers; each name loads its
module when first used. docs/modern_vlms.md is the user's guide.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "HfVlmAdapter": "adapter",
    "load": "loader",
    "build": "loader",
    "PRESETS": "settings",
    "ARCHITECTURES": "settings",
    "HfVlmSettings": "settings",
    "make_tiny_hf_vlm": "tiny",
    "to_interleaved": "prompts",
    "to_messages": "prompts",
}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)


__all__ = list(_NAMES)
