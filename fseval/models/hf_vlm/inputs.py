"""Model inputs for a batch of prompts: the checkpoint's processor, and images as cached encoder outputs.

The processor turns each model-side text into token ids (expanding every image placeholder into
that image's tokens, which depends on its size) and the images into pixel inputs. With the media
cache, the pixel inputs are replaced by ``mm_encoder_outputs``, transformers' way of handing a
multimodal model its images already encoded (``get_image_features``'s pooled output: the tokens
that take the placeholders' places, one tensor per image). Every architecture of the family takes
it in ``forward`` and ``generate``. An image is encoded once per run, alone, with the processor's
own preprocessing: the model computes each image's tokens independently of the others in a batch
(Idefics2 masks the padding of smaller images, Qwen2-VL attends within each image, LLaVA-OneVision
and Idefics3 tile each image on its own), so the cached tokens are those of the batched call up to
floating-point rounding.

Video clips (media of several frames, ``clips.py``) go through the processor's video input on the
architectures that take video (``settings.VIDEO``); with the cache they are encoded by
``get_video_features``, each clip alone (so that its encoding does not depend on the clips it first
shares a batch with), and handed on as ``mm_encoder_outputs["video"]``.

One architecture makes an image's tokens depend on its prompt: LLaVA-OneVision tiles an image
(AnyRes) only when it is its prompt's only image, and gives each image of a multi-image prompt its
base view alone. Its ``get_image_features`` takes the images per prompt (``batch_num_images``);
for such an encoder the cache keeps an image's single-image and multi-image encodings apart and
encodes the latter as one of a pair of copies.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, cast

import torch
from PIL import Image
from transformers.modeling_outputs import BaseModelOutputWithPooling

from fseval.errors import FsevalError
from fseval.models.engine.media_cache import MediaFeatureCache
from fseval.models.hf_vlm.clips import is_clip, stack_clips, token_tensors, use_reference_frame_sizes, video_kwargs
from fseval.models.hf_vlm.settings import ARCHITECTURES, VIDEO, HfVlmSettings
from fseval.types import Media, Prompt

VISION_BATCH = 32  # images through the vision encoder at a time
PIXEL_INPUTS = ("pixel_values", "pixel_attention_mask", "pixel_values_videos")
"""What the processor gives the vision encoder, and ``mm_encoder_outputs`` replaces."""
DURATIONS = ("second_per_grid_ts",)
"""Seconds (Qwen2.5-VL's per frame pair), kept in float32: in bf16 the temporal positions made of them would round."""


class ModelInputs:
    """Processor calls and the run-wide cache of image and clip encodings for one model (thread-safe cache)."""

    def __init__(self, model: Any, processor: Any, arch: str, settings: HfVlmSettings) -> None:
        self.model, self.processor, self.name = model, processor, arch
        self.placeholder, self.video = ARCHITECTURES[arch], VIDEO.get(arch)
        self.video_fps = settings.video_fps
        # Images are preprocessed by the processor when they are encoded: nothing is staged ahead.
        self.features = MediaFeatureCache(lambda item: torch.empty(0), settings.media_cache_bytes)
        self.encoder = model.get_image_features
        self.per_prompt = "batch_num_images" in inspect.signature(self.encoder).parameters
        self.encoded_images = self.encoded_clips = 0
        if self.video is not None:
            use_reference_frame_sizes(processor)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to_model(self, value: Any, key: str = "") -> Any:
        """A tensor on the model's device; floating ones (pixels) in its precision, but for durations."""
        if not isinstance(value, torch.Tensor):
            return value
        dtype = self.model.dtype if value.is_floating_point() and key not in DURATIONS else None
        return value.to(device=self.device, dtype=dtype)

    def process(
        self,
        texts: Sequence[str],
        images: Sequence[Sequence[Image.Image]],
        clips: Sequence[Sequence[Media]] = (),
    ) -> dict[str, Any]:
        """The processor's output for model-side texts (special tokens already in them), left-padded.

        ``clips``: each prompt's. A processor that stacks clips (LLaVA-OneVision's) cannot stack clips
        of different frame counts: its output then stays lists, but for the per-token inputs.
        """
        flat = [clip for row in clips for clip in row]
        nested = [list(row) for row in images] if any(images) else None
        videos = video_kwargs(flat, self.video_fps) if flat else {}
        uneven = self.unstackable(flat)
        out = self.processor(
            text=list(texts),
            images=nested,
            padding=True,
            return_tensors=None if uneven else "pt",
            add_special_tokens=False,
            **videos,
        )
        return token_tensors(dict(out)) if uneven else dict(out)

    def unstackable(self, clips: Sequence[Media]) -> bool:
        """Clips of different frame counts, for a model that takes them stacked (LLaVA-OneVision)."""
        return self.video is not None and self.video.stacked and len({len(clip.frames) for clip in clips}) > 1

    def batch(self, texts: Sequence[str], prompts: Sequence[Prompt], cached: bool = True) -> dict[str, Any]:
        """Model inputs on the model's device; ``cached``: images and clips as their encodings in the media cache."""
        stills = [[media for media in prompt.media if not is_clip(media)] for prompt in prompts]
        clips = [[media for media in prompt.media if is_clip(media)] for prompt in prompts]
        batch = self.process(texts, [[media.frames[0] for media in row] for row in stills], clips)
        if cached and (any(clips) or any(stills)):
            for key in PIXEL_INPUTS:
                batch.pop(key, None)
            batch["mm_encoder_outputs"] = self.encodings(stills, [clip for row in clips for clip in row])
        else:
            if isinstance(batch.get("pixel_values_videos"), list):
                raise FsevalError(
                    f"{self.name} takes clips stacked: without the media cache, the clips of a batch need as many "
                    "frames each.",
                    hint="Leave media_cache on (the default), or sample clips to one frame count ({frames: N}).",
                )
            self.encoded_images += sum(len(row) for row in stills)
            self.encoded_clips += sum(len(row) for row in clips)
        return {key: self.to_model(value, key) for key, value in batch.items()}

    def encodings(self, stills: Sequence[Sequence[Media]], clips: Sequence[Media]) -> dict[str, Any]:
        """``mm_encoder_outputs``: the images' and clips' tokens, as the models' own feature methods hand them on."""
        out: dict[str, Any] = {}
        if any(stills):
            # One tensor per image (typed as one tensor).
            out["image"] = BaseModelOutputWithPooling(pooler_output=cast(Any, self.encoded(stills)))
        if clips:
            keys = [self.features.key(clip) for clip in clips]
            pooled = self.features.get(keys, clips, self._encode_clips)
            stacked = self.video is not None and self.video.stacked
            out["video"] = BaseModelOutputWithPooling(
                pooler_output=cast(Any, stack_clips(pooled) if stacked else pooled)
            )
        return out

    def encoded(self, stills: Sequence[Sequence[Media]]) -> list[torch.Tensor]:
        """Each image's tokens (tokens, width) in prompt order (``stills``: each prompt's), from the cache or
        encoded now, together."""
        modes = [self.per_prompt and len(row) > 1 for row in stills]
        found: dict[str, torch.Tensor] = {}
        for multi in (False, True):
            items = [item for row, m in zip(stills, modes, strict=True) if m == multi for item in row]
            if items:
                keys = [self.key(item, multi) for item in items]
                encode = functools.partial(self._encode_keyed, multi=multi)
                found.update(zip(keys, self.features.get(keys, items, encode), strict=True))
        return [found[self.key(item, m)] for row, m in zip(stills, modes, strict=True) for item in row]

    def key(self, item: Media, multi: bool) -> str:
        return self.features.key(item) + (":multi" if multi else "")

    def _encode_keyed(self, items: Sequence[Media], keys: Sequence[str], multi: bool) -> list[torch.Tensor]:
        return self.encode(items, multi)

    def encode(self, items: Sequence[Media], multi: bool = False) -> list[torch.Tensor]:
        """``get_image_features`` on the items, each its own prompt (``multi``: a prompt of two copies)."""
        copies = 2 if multi else 1
        out: list[torch.Tensor] = []
        for start in range(0, len(items), VISION_BATCH):
            chunk = [[item.frames[0]] * copies for item in items[start : start + VISION_BATCH]]
            pixels = self.processor.image_processor(chunk, return_tensors="pt")
            accepted = inspect.signature(self.encoder).parameters
            kwargs = {key: self.to_model(value) for key, value in pixels.items() if key in accepted}
            pooled = [
                piece.reshape(-1, piece.shape[-1]) for piece in self.encoder(**kwargs, return_dict=True).pooler_output
            ]
            self.encoded_images += len(chunk) * copies
            if len(pooled) == len(chunk) * copies:  # one tensor per image
                out += pooled[::copies]
            else:  # one tensor per prompt, whose copies are alike
                out += [piece[: len(piece) // copies] for piece in pooled]
        return out

    def _encode_clips(self, clips: Sequence[Media], keys: Sequence[str]) -> list[torch.Tensor]:
        """``get_video_features`` on each clip alone: its tokens (tokens, width)."""
        encoder = self.model.get_video_features
        accepted = inspect.signature(encoder).parameters
        out = []
        for clip in clips:
            videos = video_kwargs([clip], self.video_fps)
            pixels = self.processor.video_processor(**videos, return_tensors="pt")
            kwargs = {key: self.to_model(value) for key, value in pixels.items() if key in accepted}
            pooled = encoder(**kwargs, return_dict=True).pooler_output[0]  # one clip: one tensor of a tuple, or a row
            out.append(pooled.reshape(-1, pooled.shape[-1]))
            self.encoded_clips += 1
        return out
