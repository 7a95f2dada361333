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

from fseval.models.engine.media_cache import MediaFeatureCache
from fseval.types import Media, Prompt

VISION_BATCH = 32  # images through the vision encoder at a time
PIXEL_INPUTS = ("pixel_values", "pixel_attention_mask")
"""What the processor gives the vision encoder, and ``mm_encoder_outputs`` replaces."""


class ModelInputs:
    """Processor calls and the run-wide cache of image encodings for one model (thread-safe cache)."""

    def __init__(self, model: Any, processor: Any, placeholder: str, cache_bytes: int) -> None:
        self.model, self.processor, self.placeholder = model, processor, placeholder
        # Images are preprocessed by the processor when they are encoded: nothing is staged ahead.
        self.features = MediaFeatureCache(lambda item: torch.empty(0), cache_bytes)
        self.encoder = model.get_image_features
        self.per_prompt = "batch_num_images" in inspect.signature(self.encoder).parameters
        self.encoded_images = 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to_model(self, value: Any) -> Any:
        """A tensor on the model's device; floating ones (pixels) in its precision."""
        if not isinstance(value, torch.Tensor):
            return value
        dtype = self.model.dtype if value.is_floating_point() else None
        return value.to(device=self.device, dtype=dtype)

    def process(self, texts: Sequence[str], images: Sequence[Sequence[Image.Image]]) -> dict[str, Any]:
        """The processor's output for model-side texts (special tokens already in them), left-padded."""
        nested = [list(row) for row in images] if any(images) else None
        out = self.processor(
            text=list(texts), images=nested, padding=True, return_tensors="pt", add_special_tokens=False
        )
        return dict(out)

    def batch(self, texts: Sequence[str], prompts: Sequence[Prompt], cached: bool = True) -> dict[str, Any]:
        """Model inputs on the model's device; ``cached``: images as their encodings in the media cache."""
        images = [[media.frames[0] for media in prompt.media] for prompt in prompts]
        batch = self.process(texts, images)
        if cached and any(images):
            for key in PIXEL_INPUTS:
                batch.pop(key, None)
            pooled = self.encoded(prompts)
            # One tensor per image: what the models' own get_image_features hands on (typed as one tensor).
            batch["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=cast(Any, pooled))}
        elif any(images):
            self.encoded_images += sum(len(row) for row in images)
        return {key: self.to_model(value) for key, value in batch.items()}

    def encoded(self, prompts: Sequence[Prompt]) -> list[torch.Tensor]:
        """Each image's tokens (tokens, width) in prompt order, from the cache or encoded now, together."""
        modes = [self.per_prompt and len(prompt.media) > 1 for prompt in prompts]
        found: dict[str, torch.Tensor] = {}
        for multi in (False, True):
            items = [item for prompt, m in zip(prompts, modes, strict=True) if m == multi for item in prompt.media]
            if items:
                keys = [self.key(item, multi) for item in items]
                encode = functools.partial(self._encode_keyed, multi=multi)
                found.update(zip(keys, self.features.get(keys, items, encode), strict=True))
        return [found[self.key(item, m)] for prompt, m in zip(prompts, modes, strict=True) for item in prompt.media]

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
