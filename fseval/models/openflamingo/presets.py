"""The released OpenFlamingo models (github.com/mlfoundations/open_flamingo, README model table).

A preset is a name for a set of ``load`` arguments. Weights are never downloaded here: the
resolver looks for them in local paths and the Hugging Face cache (``local_files_only``, so
``HF_HUB_OFFLINE`` makes no difference) and otherwise says which files are missing and how to
fetch them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fseval.errors import FsevalError, UnknownNameError
from fseval.models.hub import cached_file, cached_repo, open_clip_weights_available
from fseval.models.openflamingo.settings import PRESETS, OpenFlamingoSettings


def resolve_preset(name: str, **overrides: Any) -> dict[str, Any]:
    """``load`` arguments for a preset with local paths; raise one error listing every missing file.

    ``overrides`` (``checkpoint=/path/checkpoint.pt``, ``lm=/path/to/lm`` ...) replace the preset's
    values and are not looked up in the cache.
    """
    if name not in PRESETS:
        raise UnknownNameError("model preset", name, PRESETS, listing="fseval models")
    preset = asdict(PRESETS[name])
    repo, filename = preset.pop("checkpoint_repo"), preset.pop("checkpoint_file")
    preset.pop("description")
    arguments: dict[str, Any] = {**preset, "tokenizer": None, "checkpoint": None, **overrides}
    missing: list[str] = []
    if "checkpoint" not in overrides:
        arguments["checkpoint"] = cached_file(repo, filename)
        if arguments["checkpoint"] is None:
            missing.append(f"hf download {repo} {filename}")
    if "lm" not in overrides:
        arguments["lm"] = cached_repo(preset["lm"])
        if arguments["lm"] is None:
            missing.append(f"hf download {preset['lm']}")
    arguments["tokenizer"] = arguments["tokenizer"] or arguments["lm"]
    if "vision_pretrained" not in overrides and not open_clip_weights_available(
        preset["vision_encoder"], preset["vision_pretrained"]
    ):
        hub = (
            "timm/vit_large_patch14_clip_224.openai" if preset["vision_encoder"] == "ViT-L-14" else "<open_clip hub id>"
        )
        missing.append(f"hf download {hub} open_clip_model.safetensors")
    if missing:
        raise FsevalError(
            f"Model {name!r} is not on this machine; missing: {len(missing)} item(s).",
            hint="Fetch them into the Hugging Face cache on a machine with network access:\n  "
            + "\n  ".join(missing)
            + "\nor point at local copies with --model-arg checkpoint=PATH / lm=PATH / vision_pretrained=PATH.",
        )
    return arguments


def locate(name: str, settings: OpenFlamingoSettings) -> OpenFlamingoSettings:
    """A preset's settings (what the registry validated) with its files found on this machine.

    What the arguments set themselves (``checkpoint=``, an ``lm`` other than the preset's, a speed
    switch) stays as set; the rest is looked up as ``resolve_preset`` does.
    """
    declared = asdict(PRESETS[name])
    given = {
        key: getattr(settings, key)
        for key in settings.model_fields_set
        if key not in declared or declared[key] != getattr(settings, key)
    }
    return settings.model_copy(update=resolve_preset(name, **given))
