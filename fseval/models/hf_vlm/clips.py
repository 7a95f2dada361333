"""Video clips for the architectures that take video natively (``settings.VIDEO``): Qwen2-VL, Qwen2.5-VL,
LLaVA-OneVision.

A media item of several frames is a clip; fseval has sampled its frames already
(``fseval.media.video``), so a clip goes to the processor's video input exactly as given: its frames
stacked into one (frames, height, width, 3) array, which transformers reads as one video, with
``do_sample_frames=False`` so that no video processor re-samples it, whatever its saved configuration says.

What the processors do with a clip (transformers 5.x): Qwen2-VL's and Qwen2.5-VL's resize every frame
alike and merge frames in pairs (``temporal_patch_size`` 2; a clip of an odd frame count gets its
last frame repeated), ``<|video_pad|>`` expanded into (frames / 2) x (height / 28) x (width / 28)
tokens at the released sizes; LLaVA-OneVision's resizes each frame to 384x384 and pools its tokens
2x2, ``<video>`` expanded into frames x 14 x 14 + 1 tokens. Qwen2.5-VL spaces a clip's temporal
positions by the rate its frames were taken at (``second_per_grid_ts``), which its processor reads
from the clip's metadata and otherwise takes as 24 frames a second (which puts all of an
8-frame clip's frames at one temporal position): the clip is declared at ``HfVlmSettings.video_fps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fseval.types import Media


def is_clip(item: Media) -> bool:
    """A media item of several frames is a video clip; one of a single frame is a still image."""
    return len(item.frames) > 1


def clip_array(item: Media) -> np.ndarray[Any, Any]:
    """The clip's frames as one (frames, height, width, 3) uint8 array: what a processor takes as one video."""
    return np.stack([np.asarray(frame.convert("RGB")) for frame in item.frames])


def video_kwargs(clips: Sequence[Media], fps: float) -> dict[str, Any]:
    """The processor's arguments for these clips: each as given (never re-sampled), declared at ``fps``."""
    metadata = [
        {"total_num_frames": len(clip.frames), "fps": fps, "frames_indices": list(range(len(clip.frames)))}
        for clip in clips
    ]
    return {"videos": [clip_array(clip) for clip in clips], "do_sample_frames": False, "video_metadata": metadata}


def use_reference_frame_sizes(processor: Any) -> None:
    """Qwen2-VL's video processor: cap a clip's pixels as qwen-vl-utils does (transformers warns until told).

    The cap bounds a frame's pixels by an even share of a whole clip's token budget; it changes
    nothing below some 300 frames a clip.
    """
    video_processor = getattr(processor, "video_processor", None)
    if video_processor is not None and getattr(video_processor, "cap_pixels_per_frame", False) is None:
        video_processor.cap_pixels_per_frame = True


TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")
"""The processor's outputs with one value per token."""


def token_tensors(out: dict[str, Any]) -> dict[str, Any]:
    """A processor's output made without ``return_tensors`` (clips it cannot stack): its per-token inputs as
    tensors; the pixels stay lists (handed on as their cached encodings, ``stack_clips``)."""
    return {key: torch.tensor(value) if key in TOKEN_INPUTS else value for key, value in out.items()}


def stack_clips(pooled: Sequence[torch.Tensor]) -> torch.Tensor:
    """Clip encodings as a model that takes them stacked (LLaVA-OneVision) reads them: (clips, tokens, width),
    or (1, all tokens, width) for clips of different lengths, which it reads alike (it flattens the first two axes).

    transformers' ``generate`` cannot expand the latter for beam search in a batch of several prompts
    (it would give each prompt all of the batch's clips); fseval's decoding loop never expands it.
    """
    if len({tuple(tokens.shape) for tokens in pooled}) == 1:
        return torch.stack(list(pooled))
    return torch.cat(list(pooled))[None]
