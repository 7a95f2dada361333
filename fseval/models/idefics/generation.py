"""Generation for the IDEFICS adapter: fseval's decoding loop, or transformers' ``generate``.

Both take a left-padded batch (``IdeficsAdapter._batch``: ids, masks, and the images as pixels or
as the vision encoder's cached outputs) and return the new tokens, ``Search`` saying what to
generate: stop at the end of a demo or ``</s>``, never an image placeholder.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import IdeficsForVisionText2Text

from fseval.models.engine import decoding
from fseval.models.engine.kv_cache import DecodingCache


def images(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch's images as the model takes them: pixels, or the vision encoder's cached outputs."""
    if "pixel_values" in batch:
        return {"pixel_values": batch["pixel_values"]}
    return {"image_encoder_embeddings": batch["image_hidden_states"]}


def encoder_states(out: Any, given: dict[str, torch.Tensor]) -> torch.Tensor:
    """A pass's vision encoder outputs as (batch, images, tokens, width), as ``generate`` hands them on."""
    encoded = out.image_outputs.last_hidden_state
    return encoded.view(*next(iter(given.values())).shape[:2], *encoded.shape[1:])


def generate_own_loop(
    model: IdeficsForVisionText2Text, batch: dict[str, torch.Tensor], search: decoding.Search, stop_lag: int | None
) -> torch.Tensor:
    """(B, new tokens): fseval's decoding loop (``fseval.models.engine.decoding``) after one prompt pass per prompt.

    Every step feeds the images as ``generate`` hands them on: the prompt pass's encoder outputs
    (one tensor, so the adapter's ``_image_states_reused`` resamples and projects them once) and the
    last column of the image attention mask (a generated token attends to the prompt's last image).
    """
    given, mask = images(batch), batch["attention_mask"]
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=mask,
        image_attention_mask=batch["image_attention_mask"],
        position_ids=(mask.long().cumsum(-1) - 1).clamp(min=0),
        cache=DecodingCache(search.max_new_tokens),
        use_cache=True,
        logits_to_keep=1,
        **given,
    )
    extra = {
        "image_attention_mask": batch["image_attention_mask"][:, -1:],
        "image_encoder_embeddings": encoder_states(out, given),
    }
    sdpa_mask = decoding.takes_sdpa_mask(model)
    steps = decoding.TokenSteps(model, out.cache, mask, search.max_new_tokens, "cache", True, sdpa_mask, extra)
    return decoding.decode(steps, out.logits[:, -1], search, stop_lag)


def generate_options(search: decoding.Search) -> dict[str, Any]:
    """``generate``'s arguments for ``search``."""
    return {
        "max_new_tokens": search.max_new_tokens,
        "min_new_tokens": search.min_new_tokens,
        "num_beams": search.num_beams,
        "do_sample": False,
        "use_cache": True,
        "eos_token_id": list(search.eos),
        "pad_token_id": search.pad,
        "bad_words_ids": [[token] for token in search.banned],
        # transformers warns about (and ignores) a length penalty without beams.
        **({"length_penalty": search.length_penalty} if search.num_beams > 1 else {}),
    }


def prompt_pass_for_beams(
    model: IdeficsForVisionText2Text, batch: dict[str, torch.Tensor], num_beams: int
) -> dict[str, Any]:
    """``generate``'s inputs with all but the last prompt token already run, once per prompt.

    ``generate`` copies each prompt ``num_beams`` times before its first forward pass; here the
    prompt runs once, its key/value cache is repeated per beam, and ``generate`` continues with
    the full ids (so lengths, scores and stopping are those of the plain call) and the images'
    encoder outputs in place of their pixels (``generate`` repeats those per beam itself).
    """
    given = images(batch)
    out = model(
        input_ids=batch["input_ids"][:, :-1],
        attention_mask=batch["attention_mask"][:, :-1],
        image_attention_mask=batch["image_attention_mask"][:, :-1],
        use_cache=True,
        logits_to_keep=1,
        **given,
    )
    out.cache.batch_repeat_interleave(num_beams)
    return {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
        "image_attention_mask": batch["image_attention_mask"],
        "image_hidden_states": encoder_states(out, given),
        "cache": out.cache,
    }
