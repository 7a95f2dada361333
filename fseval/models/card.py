"""The fseval model card: ``fseval-model.json`` in a model directory says which family loads it and how.

    {"family": "openflamingo", "name": "...", "description": "...",
     "args": {"lm": "lm", "checkpoint": "checkpoint.pt", ...}, "paths": ["lm", "checkpoint"]}

``args`` are the family's ``--model-arg`` values; those named in ``paths`` are relative to the
directory. ``fseval make-tiny`` and ``scripts/train_tiny_shapes.py`` write cards; this module is
the one place that reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from fseval.errors import FsevalError

CARD_NAME = "fseval-model.json"


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")  # cards may carry provenance of their own (a seed, a trainer)

    family: str
    name: str | None = None
    description: str = ""
    args: dict[str, Any] = {}
    paths: list[str] = []

    def arguments(self, directory: Path) -> dict[str, Any]:
        """``args`` with the ``paths`` entries made absolute (values that are not strings stay)."""
        return {
            key: str(directory / value) if key in self.paths and isinstance(value, str) else value
            for key, value in self.args.items()
        }


def has_card(directory: str | Path) -> bool:
    return (Path(directory) / CARD_NAME).is_file()


def read_card(directory: str | Path) -> ModelCard:
    """The card of a model directory; a missing, unreadable or malformed card is one clear error."""
    path = Path(directory) / CARD_NAME
    if not path.is_file():
        raise FsevalError(
            f"{directory} has no {CARD_NAME}.", hint="Point --model at a directory written by fseval make-tiny."
        )
    try:
        return ModelCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FsevalError(f"{path} cannot be read as JSON: {error}.", hint="Re-create or fix the model card.") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'card'}: {e['msg']}" for e in error.errors())
        raise FsevalError(f"{path} is not an fseval model card: {problems}.", hint=f"See {__name__}.") from None
