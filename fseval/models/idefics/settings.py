"""The idefics family's arguments and its released models, without importing torch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from fseval.models.settings import Family, FamilySettings, Preset, TinyModels


class IdeficsSettings(FamilySettings):
    """``--model-arg`` keys of the idefics family, each declared once: ``loader.build`` and ``IdeficsAdapter`` get
    the validated object whole and read a switch where they use it."""

    path: str = Field(description="checkpoint directory, cached Hub repo id, or preset name")
    end_of_chunk: Literal["newline", "end_of_utterance"] | None = Field(
        None, description="what closes each demo (None: the preset's, else newline)"
    )
    rank_batch_size: int | None = Field(default=None, gt=0, description="candidate rows per ranking pass")
    decoding_loop: Literal["fseval", "transformers"] = Field(
        default="fseval", description="speed: fseval's loop (no host syncs per step) or transformers' generate"
    )
    stop_lag: int | None = Field(
        default=None, ge=0, le=4, description="steps late the stop flag is read (None: 1 on CUDA, 0 on CPU)"
    )
    beam_prefill_once: bool = Field(
        default=True, description="speed: run a prompt once, not once per beam (transformers' loop)"
    )
    reuse_image_states: bool = Field(default=True, description="speed: resample and project images once per call")
    media_cache: bool = Field(default=True, description="speed: encode each image once per run")
    media_cache_bytes: int = Field(default=2 << 30, gt=0, description="the media cache's size")
    cross_attention_gate: bool = Field(default=True, description="False: text before any image computes as on 4.33")
    device_map: str | None = Field(
        default=None, description="from_pretrained's device_map (e.g. auto for the 80B models)"
    )

    @field_validator("rank_batch_size", "stop_lag", mode="before")
    @classmethod
    def _auto(cls, value: object) -> object:
        return None if value == "" else value


# HuggingFaceM4's releases: the Hub repo, and the instruct models' demo delimiter.
PRESETS: dict[str, dict[str, str]] = {
    "idefics-9b": {"path": "HuggingFaceM4/idefics-9b"},
    "idefics-9b-instruct": {"path": "HuggingFaceM4/idefics-9b-instruct", "end_of_chunk": "end_of_utterance"},
    "idefics-80b": {"path": "HuggingFaceM4/idefics-80b"},
    "idefics-80b-instruct": {"path": "HuggingFaceM4/idefics-80b-instruct", "end_of_chunk": "end_of_utterance"},
}


FAMILY = Family(
    "idefics",
    "IDEFICS through transformers' IdeficsForVisionText2Text",
    IdeficsSettings,
    "fseval.models.idefics:build",
    presets=tuple(Preset(name, {"path": name}, args["path"], dict(args)) for name, args in PRESETS.items()),
    file_checks="fseval.models.idefics.checks:problems",
    video_checks="fseval.models.idefics.checks:video_problems",
    model_files="fseval.models.idefics.checks:files",
    tiny=TinyModels("fseval.models.idefics.tiny:make_tiny_idefics"),
)
