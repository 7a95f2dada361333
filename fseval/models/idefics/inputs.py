"""Turn fseval's interleaved prompts into IDEFICS model inputs.

References: transformers ``models/idefics/processing_idefics.py`` (``IdeficsProcessor.__call__`` and
``image_attention_mask_for_packed_input_ids``, copied there from HuggingFace M4's
``m4.training.packing``). The text built here equals what ``IdeficsProcessor`` builds for the same
interleaved list of texts and images; the tests check it token for token. The processor itself is
not called because it strips spaces from every text item and fetches any text item that parses as
a URL, neither of which an evaluation prompt should suffer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from fseval.types import END_OF_CHUNK, IMAGE_TOKEN, Prompt

FAKE_TOKEN = "<fake_token_around_image>"
END_OF_UTTERANCE = "<end_of_utterance>"
NEWLINE = "\n"
# What ``--model-arg end_of_chunk=`` names: the text that closes each demo.
END_OF_CHUNK_CHOICES = {"newline": NEWLINE, "end_of_utterance": END_OF_UTTERANCE}


def to_idefics_text(text: str, bos_token: str, end_of_chunk: str = NEWLINE) -> str:
    """Map an fseval prompt to IDEFICS's own text, as ``IdeficsProcessor`` spells it.

    Each ``<image>`` becomes ``<fake_token_around_image><image><fake_token_around_image>``; an image
    right after another image shares the fake token between them (``<image><fake_token_around_image>``),
    as the processor does. ``<|endofchunk|>`` becomes ``end_of_chunk``; when that ends with a newline,
    a newline right after the marker is absorbed, so that a demo closes with exactly one newline
    whether the prompt file joins demos with ``\\n`` (generation tasks) or with nothing
    (classification). The text starts with the BOS token, like every IDEFICS training sample.
    """
    chunk = re.escape(END_OF_CHUNK) + ("\n?" if end_of_chunk.endswith("\n") else "")
    pieces = text.split(IMAGE_TOKEN)
    out = [bos_token, re.sub(chunk, lambda _: end_of_chunk, pieces[0])]
    for previous, piece in itertools.pairwise(pieces):
        # ``previous`` is the text before this marker: empty (and not the prompt start) means an image
        # directly follows another image.
        follows_image = previous == "" and len(out) > 2
        out.append(IMAGE_TOKEN + FAKE_TOKEN if follows_image else FAKE_TOKEN + IMAGE_TOKEN + FAKE_TOKEN)
        out.append(re.sub(chunk, lambda _: end_of_chunk, piece))
    return "".join(out)


def image_attention_mask(
    input_ids: torch.Tensor, image_token_id: int, eos_token_id: int | None, num_images: int
) -> torch.Tensor:
    """Which image each text token cross-attends to: (batch, seq, num_images), one-hot or all zero.

    A token attends only to the latest ``<image>`` at or before it (Flamingo's rule); tokens before
    any image, and tokens after an EOS until the next image, attend to none. This is the vectorised
    equivalent of ``image_attention_mask_for_packed_input_ids`` + ``incremental_to_binary_attention_mask``.
    """
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    is_image = input_ids == image_token_id
    count = is_image.long().cumsum(dim=1) - 1
    last_image = torch.where(is_image, positions, -1).cummax(dim=1).values
    valid = count >= 0
    if eos_token_id is not None:
        # The processor keeps the count on the EOS itself and drops it for the tokens after.
        is_eos = input_ids == eos_token_id
        last_eos_before = torch.where(is_eos, positions, -1).cummax(dim=1).values.roll(1, dims=1)
        last_eos_before[:, 0] = -1
        valid &= last_eos_before < last_image
    valid &= count < num_images
    one_hot = torch.nn.functional.one_hot(count.clamp(0, num_images - 1), num_classes=num_images)
    return one_hot * valid.unsqueeze(-1).long()


@dataclass(frozen=True)
class IdeficsTokens:
    """The ids the adapter needs, read from the checkpoint's tokenizer once."""

    image: int
    fake: int
    eos: int
    stop: int  # first token of the end-of-chunk text: generation stops there


def prompt_images(prompt: Prompt) -> list[Image.Image]:
    """One image per media item; IDEFICS has no frame axis, so a video is refused by the caller."""
    return [media.frames[0] for media in prompt.media]


def build_batch(
    texts: Sequence[str],
    images: Sequence[Sequence[Image.Image]],
    tokenizer: Any,
    image_processor: Any,
    tokens: IdeficsTokens,
) -> dict[str, torch.Tensor]:
    """Tokenise IDEFICS-side texts (BOS already in the text) with left padding and add the images.

    ``pixel_values`` is (batch, max images, C, H, W), zero-filled past each prompt's images, and at
    least one image wide, like the processor's output.
    """
    encoded = tokenizer(list(texts), add_special_tokens=False, padding="longest", return_tensors="pt")
    return with_images(encoded["input_ids"], encoded["attention_mask"], images, image_processor, tokens)


def with_images(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    images: Sequence[Sequence[Image.Image]],
    image_processor: Any,
    tokens: IdeficsTokens,
) -> dict[str, torch.Tensor]:
    """Add ``pixel_values`` and ``image_attention_mask`` to left-padded token ids."""
    num_images = max(1, max((len(i) for i in images), default=0))
    size = image_processor.image_size
    pixel_values = torch.zeros(len(images), num_images, image_processor.image_num_channels, size, size)
    for row, row_images in enumerate(images):
        if row_images:
            pixel_values[row, : len(row_images)] = image_processor(list(row_images), return_tensors="pt")
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": pixel_values,
        "image_attention_mask": image_attention_mask(input_ids, tokens.image, tokens.eos, num_images),
    }
