"""Build an OpenFlamingo model from its parts, as ``open_flamingo.create_model_and_transforms`` does.

Vision tower from open_clip (a registered name with a pretrained tag or weights file, or a model
config JSON), language model and tokenizer from a Hugging Face directory or hub id (read with
``from_pretrained``; no remote code), then the released checkpoint on top. Released checkpoints
(``checkpoint.pt``) hold only the trainable weights; training checkpoints wrap them as
``{"model_state_dict": ...}`` with DDP's ``module.`` prefix. Both load.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fseval.errors import FsevalError
from fseval.models.engine import tokenization
from fseval.models.files import checkpoint_problem
from fseval.models.openflamingo import checks
from fseval.models.openflamingo.adapter import OpenFlamingoAdapter
from fseval.models.openflamingo.flamingo import Flamingo
from fseval.models.openflamingo.mosaic_gpt import MosaicGPTForCausalLM
from fseval.models.openflamingo.presets import locate
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.models.settings import torch_dtype
from fseval.types import END_OF_CHUNK, IMAGE_TOKEN


class CheckpointError(FsevalError):
    """A checkpoint does not fit the model it is loaded into."""


def load_vision_encoder(name: str, pretrained: str | None, config: str | None) -> tuple[nn.Module, Any, int]:
    """The open_clip vision tower set to return patch tokens, its eval transform and its width."""
    import open_clip

    if config is not None:
        if Path(config).stem != name:
            raise FsevalError(
                f"vision_config {config} registers open_clip model {Path(config).stem!r}, not {name!r}.",
                hint="Name the vision_encoder after the config file's stem.",
            )
        open_clip.add_model_config(config)
    model_config = open_clip.get_model_config(name)
    if model_config is None:
        raise FsevalError(
            f"Unknown open_clip model {name!r}.",
            hint="Use a name from open_clip.list_models() or pass vision_config.",
        )
    try:
        clip, _, transform = open_clip.create_model_and_transforms(name, pretrained=pretrained or None)
    except (RuntimeError, OSError) as error:
        raise FsevalError(
            f"Could not load open_clip weights {name}/{pretrained}: {error}",
            hint="Pass vision_pretrained as a local weights file, or pre-download them into the Hugging Face cache.",
        ) from error
    visual = clip.visual
    visual.output_tokens = True  # OpenFlamingo feeds the patch tokens, visual(x)[1], to the resampler
    return visual, transform, int(model_config["vision_cfg"]["width"])


def load_tokenizer(path: str) -> Any:
    """The LM tokenizer with OpenFlamingo's special tokens, padding on the left (as on transformers 4.33)."""
    tokenizer = tokenization.load_tokenizer(path)
    # The order matters: it fixes the ids of the two tokens, whose embeddings the checkpoint holds.
    tokenizer.add_special_tokens({"additional_special_tokens": [END_OF_CHUNK, IMAGE_TOKEN]})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<PAD>"})
    tokenizer.padding_side = "left"
    return tokenizer


def load_language_model(path: str, dtype: torch.dtype) -> nn.Module:
    from transformers import AutoModelForCausalLM
    from transformers.utils.hub import cached_file

    config_file = cached_file(path, "config.json")
    config = json.loads(Path(config_file).read_text()) if config_file else {}
    if config.get("model_type") == "mosaic_gpt":  # MPT-1B's remote code, re-implemented natively
        return MosaicGPTForCausalLM.from_pretrained(path, dtype=dtype)
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype)


def resize_embeddings(lang_encoder: nn.Module, size: int) -> None:
    """``resize_token_embeddings(len(tokenizer))`` as OpenFlamingo does, with seeded new rows.

    Rows the checkpoint does not hold (an untied output embedding without "embed" in its name)
    would otherwise differ from run to run.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        lang_encoder.resize_token_embeddings(size, mean_resizing=False)  # type: ignore[operator]


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of a released or a training checkpoint, with DDP prefixes removed.

    Loaded with ``weights_only=True``: a checkpoint can hold code, and fseval never runs it.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
        problem = checkpoint_problem(Path(path))
        raise CheckpointError(
            problem or f"{path} cannot be read as weights ({type(error).__name__}).",
            hint="Download it again. A training checkpoint that also holds other objects: save its "
            "model_state_dict on its own with torch, where you trust the file.",
        ) from None
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict.")
    return {re.sub(r"^(module\.)+", "", key): value for key, value in state.items()}


# OpenFlamingo's checkpoints carry the LM attribute names of transformers 4.x; current transformers
# renamed a few (it converts them itself when loading the LM's own files, not ours).
LEGACY_LM_NAMES: dict[str, dict[str, str]] = {"gpt_neox": {"lang_encoder.embed_out.": "lang_encoder.lm_head."}}


def rename_lm_keys(state: dict[str, torch.Tensor], model_type: str, to_legacy: bool = False) -> dict[str, torch.Tensor]:
    """Map between OpenFlamingo's (legacy) and current transformers key names of the wrapped LM."""
    renames = LEGACY_LM_NAMES.get(model_type, {})
    if to_legacy:
        renames = {new: old for old, new in renames.items()}
    out = {}
    for key, value in state.items():
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old) :]
        out[key] = value
    return out


def _canonical_keys(state: dict[str, torch.Tensor], layers_path: str) -> dict[str, torch.Tensor]:
    """Map OpenFlamingo's duplicate aliases onto the per-layer names this model registers."""
    aliases = {
        "lang_encoder.old_decoder_blocks.": "decoder_layer",
        "lang_encoder.gated_cross_attn_layers.": "gated_cross_attn_layer",
    }
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix, attr in aliases.items():
            if key.startswith(prefix):
                index, _, rest = key[len(prefix) :].partition(".")
                key = f"lang_encoder.{layers_path}.{index}.{attr}.{rest}"
                break
        out.setdefault(key, value)
    return out


def load_checkpoint(model: Flamingo, path: str | Path) -> None:
    """Load trainable weights; fail clearly on keys or shapes that do not fit this architecture."""
    model_type = getattr(model.lang_encoder.config, "model_type", "")
    state = rename_lm_keys(_canonical_keys(read_checkpoint(path), model.decoder_layers_attr_name), model_type)
    expected = model.state_dict()
    unexpected = sorted(k for k in state if k not in expected)
    wrong_shape = sorted(
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    )
    # Only the Flamingo weights must come from the checkpoint; LM and vision weights are frozen and
    # come from their own files.
    must_have = ("perceiver.", ".gated_cross_attn_layer.")
    missing = sorted(k for k in expected if any(m in k for m in must_have) and k not in state)
    if unexpected or wrong_shape or missing:
        problems = [("unexpected", unexpected), ("wrong shape", wrong_shape), ("missing", missing)]
        lines = [
            f"{label} ({len(keys)}): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}"
            for label, keys in problems
            if keys
        ]
        raise CheckpointError(
            f"Checkpoint {path} does not fit this model:\n" + "\n".join(lines),
            hint="Check lm, cross_attn_every_n_layers and vision_encoder against the checkpoint's model card.",
        )
    embedding = model.lang_encoder.get_input_embeddings().weight  # type: ignore[operator]
    if not any(p is embedding and k in state for k, p in model.state_dict(keep_vars=True).items()):
        warnings.warn(f"{path} holds no input embeddings; <image> and <|endofchunk|> are untrained", stacklevel=2)
    model.load_state_dict(state, strict=False)


def build(
    settings: OpenFlamingoSettings,
    *,
    name: str | None = None,
    preset: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    compat: str | None = None,
) -> OpenFlamingoAdapter:
    """An OpenFlamingo model from validated settings (``fseval.models.registry``), in the fseval adapter.

    ``preset``: the released model the settings stand for, its files found on this machine
    (``presets.locate``). Damaged or missing files are reported before anything loads (``checks.py``).
    The adapter gets the settings whole: its optimisations read their switches from them.
    """
    dtype = torch_dtype(precision)
    if preset is not None:
        settings = locate(preset, settings)
    name = name or preset or "openflamingo"
    problems = checks.problems(settings.model_dump())
    if problems:
        raise FsevalError(f"Cannot load {name}: " + "; ".join(problems))
    model, tokenizer, image_processor = build_flamingo(settings, dtype)
    model.to(device=device, dtype=dtype).eval()
    model.requires_grad_(False)
    return OpenFlamingoAdapter(
        model, tokenizer, image_processor, settings, precision=precision, device=device, name=name, compat=compat
    )


def build_flamingo(settings: OpenFlamingoSettings, dtype: torch.dtype) -> tuple[Flamingo, Any, Any]:
    """The Flamingo module (on the CPU), its tokenizer and image transform, as OpenFlamingo builds them.

    ``frame_embeddings``: False (OpenFlamingo's default, no frame embeddings), an int (that many
    learned frame embeddings), or True (as many as the checkpoint's ``perceiver.frame_embs``).
    ``vision_token_ln``: False (OpenFlamingo's released models, trained on open_clip <= 2.20) feeds
    the Perceiver the vision tower's patch tokens without its final LayerNorm; True norms them, as
    open_clip >= 2.23 returns them (models trained on it, like fseval's tiny-shapes).
    ``checkpoint=None`` leaves the Flamingo weights at their random initialisation (gates at 0).
    """
    s = settings
    visual, image_processor, vis_dim = load_vision_encoder(s.vision_encoder, s.vision_pretrained, s.vision_config)
    text_tokenizer = load_tokenizer(s.tokenizer or s.lm)
    lang_encoder = load_language_model(s.lm, dtype)
    resize_embeddings(lang_encoder, len(text_tokenizer))
    model = Flamingo(
        visual,
        lang_encoder,
        eoc_token_id=text_tokenizer.convert_tokens_to_ids(END_OF_CHUNK),
        media_token_id=text_tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vis_dim=vis_dim,
        cross_attn_every_n_layers=s.cross_attn_every_n_layers,
        decoder_layers_attr_name=s.decoder_layers_attr_name,
        max_num_frames=frame_count(s.frame_embeddings, s.checkpoint),
        vision_token_ln=s.vision_token_ln,
        mpt_sdpa=s.mpt_sdpa,
    )
    if s.checkpoint is not None:
        load_checkpoint(model, s.checkpoint)
    return model, text_tokenizer, image_processor


def frame_count(frame_embeddings: bool | int, checkpoint: str | None) -> int | None:
    """Learned frame embeddings: none (False), a count, or as many as the checkpoint holds (True)."""
    if frame_embeddings is False:
        return None
    if frame_embeddings is not True:
        return int(frame_embeddings)
    if checkpoint is None or "perceiver.frame_embs" not in (state := read_checkpoint(checkpoint)):
        raise FsevalError("frame_embeddings=True needs a checkpoint holding perceiver.frame_embs.")
    return int(state["perceiver.frame_embs"].shape[0])
