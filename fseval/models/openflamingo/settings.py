"""The openflamingo family's arguments and its released models, without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from fseval.models.settings import Family, FamilySettings, TinyModels
from fseval.models.settings import Preset as FamilyPreset


class OpenFlamingoSettings(FamilySettings):
    """``--model-arg`` keys of the openflamingo family: each declared once, here, with its description.

    The loader (``loader.build``) and the adapter get the validated object whole; a speed switch is
    read where it is used (``OpenFlamingoAdapter``, ``generation.py``).
    """

    vision_encoder: str = Field(default="ViT-L-14", description="open_clip model name")
    vision_pretrained: str | None = Field(default="openai", description="open_clip tag or weights file")
    vision_config: str | None = Field(default=None, description="open_clip model config JSON for a custom tower")
    lm: str = Field(description="language model: Hugging Face directory or cached repo id")
    tokenizer: str | None = Field(default=None, description="tokenizer directory (default: lm)")
    checkpoint: str | None = Field(
        default=None, description="OpenFlamingo checkpoint.pt (None: random Flamingo weights)"
    )
    cross_attn_every_n_layers: int = Field(
        default=1, ge=1, description="a cross-attention block before every n-th LM layer"
    )
    frame_embeddings: bool | int = Field(
        False, description="learned frame embeddings: False, a count, or True (as many as the checkpoint holds)"
    )
    vision_token_ln: bool = Field(
        False, description="norm the vision tokens (models trained on open_clip >= 2.23); False as OpenFlamingo"
    )
    clean_up_tokenization_spaces: bool | None = Field(
        None, description="decode with transformers 4.33's clean-up (None: as 4.33 did for this tokenizer)"
    )
    decoder_layers_attr_name: str | None = Field(
        default=None, description="the LM's decoder-layer list (default: by LM type)"
    )
    mpt_sdpa: bool = Field(default=True, description="speed: MPT language models attend through SDPA (fused on GPU)")
    media_cache: bool = Field(default=True, description="speed: encode each image once per run")
    media_cache_bytes: int = Field(default=2 << 30, gt=0, description="the media cache's size")
    shared_media_kv: bool = Field(default=True, description="speed: project media keys/values once per call")
    decoding_loop: Literal["fseval", "transformers"] = Field(
        default="fseval", description="speed: fseval's loop (no host syncs per step) or transformers' generate"
    )
    stop_lag: int | None = Field(
        default=None, ge=0, le=4, description="steps late the stop flag is read (None: 1 on CUDA, 0 on CPU)"
    )
    cuda_graphs: bool = Field(
        default=False, description="speed: replay decoding steps from a CUDA graph (fseval's loop; off until measured)"
    )
    beam_prefill_once: bool = Field(
        default=True, description="speed: run a prompt once, not once per beam (transformers' loop)"
    )
    static_kv_cache: bool = Field(
        default=True, description="speed: keys/values written in place; beams reorder only their new tokens"
    )
    rank_strategy: Literal["packed", "chunked"] = Field(
        default="packed", description="speed: how candidates are batched"
    )
    rank_chunk_tokens: int | None = Field(default=None, gt=0, description="tokens per ranking pass (None: from memory)")

    @field_validator("clean_up_tokenization_spaces", "rank_chunk_tokens", "stop_lag", mode="before")
    @classmethod
    def _auto(cls, value: object) -> object:
        return None if value in ("", "auto") else value

    @field_validator("frame_embeddings", mode="before")
    @classmethod
    def _count_or_flag(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
            return value.strip().lower() == "true"
        return value


@dataclass(frozen=True)
class Preset:
    """A released model: the arguments it stands for, and where its checkpoint is published."""

    description: str
    vision_encoder: str
    vision_pretrained: str
    lm: str
    cross_attn_every_n_layers: int
    checkpoint_repo: str
    checkpoint_file: str = "checkpoint.pt"


# github.com/mlfoundations/open_flamingo, README model table.
PRESETS: dict[str, Preset] = {
    "openflamingo-3b": Preset(
        "ViT-L-14 + MPT-1B (RedPajama 200B), cross-attention every layer",
        "ViT-L-14",
        "openai",
        "anas-awadalla/mpt-1b-redpajama-200b",
        1,
        "openflamingo/OpenFlamingo-3B-vitl-mpt1b",
    ),
    "openflamingo-3b-instruct": Preset(
        "ViT-L-14 + MPT-1B Dolly-tuned, cross-attention every layer",
        "ViT-L-14",
        "openai",
        "anas-awadalla/mpt-1b-redpajama-200b-dolly",
        1,
        "openflamingo/OpenFlamingo-3B-vitl-mpt1b-langinstruct",
    ),
    "openflamingo-4b": Preset(
        "ViT-L-14 + RedPajama-INCITE-Base-3B, cross-attention every 2 layers",
        "ViT-L-14",
        "openai",
        "togethercomputer/RedPajama-INCITE-Base-3B-v1",
        2,
        "openflamingo/OpenFlamingo-4B-vitl-rpj3b",
    ),
    "openflamingo-4b-instruct": Preset(
        "ViT-L-14 + RedPajama-INCITE-Instruct-3B, cross-attention every 2 layers",
        "ViT-L-14",
        "openai",
        "togethercomputer/RedPajama-INCITE-Instruct-3B-v1",
        2,
        "openflamingo/OpenFlamingo-4B-vitl-rpj3b-langinstruct",
    ),
    "openflamingo-9b": Preset(
        "ViT-L-14 + MPT-7B, cross-attention every 4 layers",
        "ViT-L-14",
        "openai",
        "anas-awadalla/mpt-7b",
        4,
        "openflamingo/OpenFlamingo-9B-vitl-mpt7b",
    ),
}


# The language models make-tiny can put under a tiny Flamingo (tiny.py holds their configurations).
TINY_LM_FAMILIES = ("gpt_neox", "mpt", "mosaic_gpt", "llama", "opt", "gptj", "gpt2")


def _preset(name: str, preset: Preset) -> FamilyPreset:
    fields = ("vision_encoder", "vision_pretrained", "lm", "cross_attn_every_n_layers")
    return FamilyPreset(name, {"preset": name}, preset.description, {key: getattr(preset, key) for key in fields})


FAMILY = Family(
    "openflamingo",
    "OpenFlamingo-style models from their parts (open_clip vision tower, Hugging Face LM, checkpoint.pt)",
    OpenFlamingoSettings,
    "fseval.models.openflamingo:build",
    presets=tuple(_preset(name, preset) for name, preset in PRESETS.items()),
    compat_modes=("openflamingo",),
    file_checks="fseval.models.openflamingo.checks:problems",
    model_files="fseval.models.openflamingo.checks:files",
    tiny=TinyModels("fseval.models.openflamingo.tiny:make_tiny", "--lm", "lm_family", TINY_LM_FAMILIES),
)
