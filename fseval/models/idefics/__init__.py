"""IDEFICS, HuggingFace M4's Flamingo re-implementation, as an fseval model family.

``load`` finds and checks a checkpoint and builds the adapter (``loader.py``, ``adapter.py``),
``to_idefics_text`` maps fseval's interleaved prompts to IDEFICS's tokens (``inputs.py``),
``make_tiny_idefics`` writes a tiny random checkpoint (``tiny.py``).
"""

from fseval.models.idefics.adapter import IdeficsAdapter
from fseval.models.idefics.inputs import to_idefics_text
from fseval.models.idefics.loader import PRESETS, load
from fseval.models.idefics.tiny import make_tiny_idefics

__all__ = ["PRESETS", "IdeficsAdapter", "load", "make_tiny_idefics", "to_idefics_text"]
