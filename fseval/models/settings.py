"""What every family's settings share: ``--model-arg`` values validated and typed before any weights load.

``--model-arg`` values arrive JSON-parsed where they parse (``true``, ``2``) and as strings
otherwise; a family's settings model converts them (``"false"`` -> False, ``"2"`` -> 2) and rejects
keys it does not know, so a typo is an error naming the key, not a silently ignored argument.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from fseval.errors import FsevalError

# Each precision a model loads in (``--precision``) and the torch dtype it stands for, named so that this
# module needs no torch; every family's loader reads it through ``torch_dtype``.
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def torch_dtype(precision: str) -> Any:
    """The ``torch.dtype`` of a precision name; an unknown name is an error that lists the known ones."""
    if precision not in PRECISIONS:
        raise FsevalError(f"Unknown precision {precision!r}.", hint=f"Use one of {', '.join(PRECISIONS)}.")
    import torch

    return getattr(torch, PRECISIONS[precision])


class FamilySettings(BaseModel):
    """A family's ``--model-arg`` keys: the one declaration of each (name, type, default, description).

    The registry validates them before any weights load and hands the object, whole, to the family's
    loader, which hands it to the adapter; the code that uses a switch reads it there.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


S = TypeVar("S", bound=FamilySettings)


@dataclass(frozen=True)
class Preset:
    """A name for a set of a family's arguments: ``args`` go to its loader, ``settings`` are what they stand for."""

    name: str
    args: dict[str, Any]
    description: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TinyModels:
    """How ``fseval make-tiny`` writes a tiny random model of a family, for tests and CI."""

    builder: str  # "module:function", called as function(directory, seed=..., **{keyword: variant})
    option: str | None = None  # make-tiny's option that picks a variant (--lm, --arch)
    keyword: str | None = None  # the builder's argument that takes the variant
    variants: tuple[str, ...] = ()  # what the option may name; the first is its default


@dataclass(frozen=True)
class Family:
    """A model family, declared in its package's light ``settings.py`` (found by ``fseval.models.registry``)."""

    name: str
    description: str
    settings: type[FamilySettings]
    # "module:function", imported when a model of the family loads and called with the validated settings:
    # function(settings, name=..., preset=..., device=..., precision=..., compat=...) (fseval.models.registry.build)
    loader: str
    presets: tuple[Preset, ...] = ()
    takes_device: bool = True
    compat_modes: tuple[str, ...] = ()  # what ``fseval run --compat`` can ask of its ranking
    file_checks: str | None = None  # "module:function": the loader arguments -> problems with the files
    # "module:function": the loader arguments -> {role: file or folder} of everything the model reads,
    # fingerprinted so that ``--resume`` refuses files whose content changed (fseval.models.files).
    model_files: str | None = None
    # "module:function": the loader arguments -> why this model cannot take video clips (empty: it can);
    # asked before any weights load when a task of the run is a video task. None: every model of it can.
    video_checks: str | None = None
    tiny: TinyModels | None = None  # fseval make-tiny --family NAME
    # "module:function": (the loader arguments, RunNeeds) -> why the model cannot serve this run; asked before
    # any sample (a served model: the server answers, lists the model, takes the run's largest prompt).
    run_checks: str | None = None


@dataclass(frozen=True)
class RunNeeds:
    """What a run will ask of its model, known before any sample: for ``Family.run_checks``."""

    max_images: int = 0  # the most media items one prompt carries (demos' and the query's)
    ranks: bool = False  # a rank task is in the run
    video: bool = False  # a video task is in the run


def validate_settings(settings: type[S], family: str, arguments: dict[str, Any]) -> S:
    """``settings`` built from ``arguments``, or one error listing every bad key and value."""
    try:
        return settings.model_validate(arguments)
    except ValidationError as error:
        known = sorted(settings.model_fields)
        problems = []
        for issue in error.errors():
            key = ".".join(str(part) for part in issue["loc"]) or "(arguments)"
            if issue["type"] == "missing":
                problems.append(f"{key}: required (give --model-arg {key}=...)")
            elif issue["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, known, n=1)
                problems.append(
                    f"{key}: not an argument of {family}" + (f" (did you mean {close[0]}?)" if close else "")
                )
            else:
                problems.append(f"{key}={issue.get('input')!r}: {issue['msg']}")
        raise FsevalError(
            f"Bad --model-arg for {family!r}:\n  " + "\n  ".join(problems),
            hint=f"Its arguments: {', '.join(known)} (fseval models {family}).",
        ) from None


@contextmanager
def switched(model: Any, **changes: Any) -> Iterator[Any]:
    """``model`` with some of its ``settings`` changed (and validated) for the block, then as before.

    For tests and benchmarks that measure a switch on and off on one loaded model. What an adapter
    reads only when it is built (the media cache's size, the demo delimiter) does not change.
    """
    before: FamilySettings = model.settings
    model.settings = type(before).model_validate({**before.model_dump(), **changes})
    try:
        yield model
    finally:
        model.settings = before
