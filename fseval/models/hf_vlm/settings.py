"""The hf_vlm family's arguments, its architectures and its presets, without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from fseval.models.settings import Family, FamilySettings, TinyModels
from fseval.models.settings import Preset as FamilyPreset

PromptStyle = Literal["interleaved", "chat"]


class HfVlmSettings(FamilySettings):
    """``--model-arg`` keys of the hf_vlm family, each declared once: ``loader.build`` and ``HfVlmAdapter`` get
    the validated object whole and read a switch where they use it."""

    path: str = Field(description="checkpoint directory, cached Hub repo id, or preset name")
    prompt_style: PromptStyle | None = Field(
        None,
        description="interleaved (a base model's plain text) or chat (turns); None: the preset's, else interleaved",
    )
    media_cache: bool = Field(default=True, description="speed: encode each image once per run")
    media_cache_bytes: int = Field(default=2 << 30, gt=0, description="the media cache's size")
    rank_batch_size: int | None = Field(default=None, gt=0, description="candidate rows per ranking pass")
    decoding_loop: Literal["fseval", "transformers"] = Field(
        default="fseval", description="speed: fseval's loop (no host syncs per step) or transformers' generate"
    )
    stop_lag: int | None = Field(
        default=None, ge=0, le=4, description="steps late the stop flag is read (None: 1 on CUDA, 0 on CPU)"
    )
    attn_implementation: str | None = Field(
        default=None, description="from_pretrained's attn_implementation (None: transformers' default, sdpa)"
    )
    video_fps: float = Field(
        default=2.0,
        gt=0,
        description="the frame rate a clip's frames are declared to have (Qwen2.5-VL spaces its temporal "
        "positions by it); 2 is qwen-vl-utils' sampling rate; frames are never resampled",
    )

    @field_validator("rank_batch_size", "attn_implementation", "prompt_style", "stop_lag", mode="before")
    @classmethod
    def _auto(cls, value: object) -> object:
        return None if value in ("", "auto") else value


# The architectures the family runs (config.json's model_type), and how an image is written in plain
# interleaved text for each: the placeholder the processor expands, with the markers the released chat
# templates put around it (Qwen2-VL wraps its image pad in vision start/end tokens).
ARCHITECTURES: dict[str, str] = {
    "idefics2": "<image>",
    "idefics3": "<image>",
    "smolvlm": "<image>",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "llava_onevision": "<image>",
}


@dataclass(frozen=True)
class VideoInput:
    """How an architecture that takes video natively is given a clip (its frames as one video)."""

    placeholder: str
    """A clip's placeholder in plain interleaved text, as the released chat templates write it."""
    stacked: bool
    """The model takes a batch's clip encodings as one (clips, tokens, width) tensor (LLaVA-OneVision), not one
    tensor per clip; its processor stacks a batch's clips too, so they must have as many frames each."""


# The architectures that take video through their processors' video input; the others take stills only.
VIDEO: dict[str, VideoInput] = {
    "qwen2_vl": VideoInput("<|vision_start|><|video_pad|><|vision_end|>", stacked=False),
    "qwen2_5_vl": VideoInput("<|vision_start|><|video_pad|><|vision_end|>", stacked=False),
    "llava_onevision": VideoInput("<video>", stacked=True),
}


# The architectures make-tiny writes (tiny.py holds their configurations; SmolVLM is Idefics3's).
TINY_ARCHITECTURES = ("idefics2", "idefics3", "qwen2_vl", "qwen2_5_vl", "llava_onevision")


@dataclass(frozen=True)
class Preset:
    """A released checkpoint: its Hub repo and the prompt style it was trained for."""

    repo: str
    prompt_style: PromptStyle
    description: str


# Hugging Face releases; base models see plain interleaved text, instruction-tuned ones chat turns.
PRESETS: dict[str, Preset] = {
    "idefics2-8b-base": Preset("HuggingFaceM4/idefics2-8b-base", "interleaved", "Idefics2 8B, pretrained only"),
    "idefics2-8b": Preset("HuggingFaceM4/idefics2-8b", "chat", "Idefics2 8B, instruction-tuned"),
    "idefics2-8b-chatty": Preset("HuggingFaceM4/idefics2-8b-chatty", "chat", "Idefics2 8B, chat-tuned"),
    "idefics3-8b": Preset("HuggingFaceM4/Idefics3-8B-Llama3", "chat", "Idefics3 8B (Llama 3.1), instruction-tuned"),
    "smolvlm-base": Preset("HuggingFaceTB/SmolVLM-Base", "interleaved", "SmolVLM 2B (Idefics3), pretrained only"),
    "smolvlm-instruct": Preset("HuggingFaceTB/SmolVLM-Instruct", "chat", "SmolVLM 2B (Idefics3), instruction-tuned"),
    "smolvlm-256m-instruct": Preset("HuggingFaceTB/SmolVLM-256M-Instruct", "chat", "SmolVLM 256M, instruction-tuned"),
    "smolvlm2-2.2b-instruct": Preset(
        "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "chat", "SmolVLM2 2.2B, instruction-tuned"
    ),
    "qwen2-vl-2b": Preset("Qwen/Qwen2-VL-2B", "interleaved", "Qwen2-VL 2B, pretrained only"),
    "qwen2-vl-2b-instruct": Preset("Qwen/Qwen2-VL-2B-Instruct", "chat", "Qwen2-VL 2B, instruction-tuned"),
    "qwen2-vl-7b-instruct": Preset("Qwen/Qwen2-VL-7B-Instruct", "chat", "Qwen2-VL 7B, instruction-tuned"),
    "qwen2.5-vl-3b-instruct": Preset("Qwen/Qwen2.5-VL-3B-Instruct", "chat", "Qwen2.5-VL 3B, instruction-tuned"),
    "qwen2.5-vl-7b-instruct": Preset("Qwen/Qwen2.5-VL-7B-Instruct", "chat", "Qwen2.5-VL 7B, instruction-tuned"),
    "llava-onevision-0.5b": Preset(
        "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "chat", "LLaVA-OneVision 0.5B (Qwen2), OneVision stage"
    ),
    "llava-onevision-7b": Preset(
        "llava-hf/llava-onevision-qwen2-7b-ov-hf", "chat", "LLaVA-OneVision 7B (Qwen2), OneVision stage"
    ),
}


def _preset(name: str, preset: Preset) -> FamilyPreset:
    settings = {"path": preset.repo, "prompt_style": preset.prompt_style}
    return FamilyPreset(name, {"path": name}, f"{preset.description} ({preset.repo})", settings)


FAMILY = Family(
    "hf_vlm",
    "Open VLMs through transformers' AutoModelForImageTextToText: " + ", ".join(ARCHITECTURES),
    HfVlmSettings,
    "fseval.models.hf_vlm:build",
    presets=tuple(_preset(name, preset) for name, preset in PRESETS.items()),
    file_checks="fseval.models.hf_vlm.checks:problems",
    video_checks="fseval.models.hf_vlm.checks:video_problems",
    model_files="fseval.models.hf_vlm.checks:files",
    tiny=TinyModels("fseval.models.hf_vlm.tiny:make_tiny_hf_vlm", "--arch", "arch", TINY_ARCHITECTURES),
)
