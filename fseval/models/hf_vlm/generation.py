"""Generation for the hf_vlm adapter: fseval's decoding loop, or transformers' ``generate``.

Both take the adapter's left-padded batch (``ModelInputs.batch``: token ids, masks, token types,
the images as pixels or as cached encodings) and return the new tokens (B, new), ``Search`` saying
what to generate. ``decoding_loop="fseval"`` runs the prompts once, with the position ids
``generate`` gives them, into the in-place cache (``kv_cache.DecodingCache``) and decodes with
``fseval.models.engine.decoding``: each step feeds one token per row, at the position one past the
row's last on every axis. That is how ``generate`` advances positions, multimodal ones included:
Qwen2-VL's and Qwen2.5-VL's three rotary axes start after the images where ``get_rope_index`` put
them (its ``rope_deltas`` are in the prompt's last position), so a step needs neither the deltas
nor ``mm_token_type_ids``. Steps need no image inputs either: a generated token is never an image
placeholder (every special token that does not stop generation is banned). ``tests/models/
test_hf_vlm.py`` checks that the tokens are ``generate``'s for every architecture of the family.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers

from fseval.models.engine import decoding
from fseval.models.engine.kv_cache import DecodingCache


def position_ids(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """The position ids ``generate`` gives these left-padded inputs (Qwen2-VL: its multimodal positions;
    Qwen2.5-VL spaces a clip's temporal positions by its ``second_per_grid_ts``)."""
    wanted = ("attention_mask", "mm_token_type_ids", "image_grid_thw", "video_grid_thw", "second_per_grid_ts")
    kwargs = {key: value for key, value in batch.items() if key in wanted}
    positions: torch.Tensor = model._prepare_position_ids_for_generation(batch["input_ids"], kwargs)
    return positions


def generate_own_loop(
    model: Any, batch: dict[str, Any], search: decoding.Search, stop_lag: int | None = None
) -> torch.Tensor:
    """(B, new tokens): one prompt pass per prompt, then fseval's decoding loop (``decoding.decode``)."""
    positions = position_ids(model, batch)
    out = model(
        **batch,
        position_ids=positions,
        cache=DecodingCache(search.max_new_tokens),
        use_cache=True,
        logits_to_keep=1,
    )
    steps = decoding.TokenSteps(
        model,
        out.cache,
        batch["attention_mask"],
        search.max_new_tokens,
        "cache",
        sdpa_mask=decoding.takes_sdpa_mask(model),
        start=positions[..., -1:] + 1,
    )
    return decoding.decode(steps, out.logits[:, -1], search, stop_lag)


def generate_transformers(model: Any, batch: dict[str, Any], search: decoding.Search) -> torch.Tensor:
    """(B, new tokens): transformers' ``generate`` with ``search``'s settings."""
    config = transformers.GenerationConfig(
        max_new_tokens=search.max_new_tokens,
        min_new_tokens=search.min_new_tokens,
        num_beams=search.num_beams,
        do_sample=False,
        eos_token_id=list(search.eos),
        pad_token_id=search.pad,
        bad_words_ids=[[i] for i in search.banned] or None,
        # transformers warns about (and ignores) a length penalty without beams.
        **({"length_penalty": search.length_penalty} if search.num_beams > 1 else {}),
    )
    output: torch.Tensor = model.generate(**batch, generation_config=config)
    return output[:, batch["input_ids"].shape[1] :]
