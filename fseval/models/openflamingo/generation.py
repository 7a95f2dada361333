"""Generation for the OpenFlamingo adapter: fseval's decoding loop, or transformers' ``generate``.

Both take left-padded prompts already conditioned on their media and return the new tokens.
``decoding_loop="fseval"`` (the default) runs each prompt through the model once and decodes with
``fseval.models.engine.decoding`` (no host-device synchronisation per step; beams repeat the prompt's
cache). ``"transformers"`` calls ``generate`` as OpenFlamingo does, optionally after a prompt
pass per prompt (``beam_prefill_once``); it is also what runs when the language model's
``generation_config`` asks for something fseval's loop does not implement.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from fseval.models.engine.decoding import Search, TokenSteps, decode, takes_sdpa_mask
from fseval.models.engine.kv_cache import DecodingCache
from fseval.models.openflamingo.flamingo import Flamingo
from fseval.models.openflamingo.media_kv import MediaKV
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.types import GenerationSettings

_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        logging.getLogger(__name__).warning(message)


def search_for(model: Flamingo, settings: GenerationSettings, pad: int) -> Search:
    """What OpenFlamingo's evaluation asks of ``generate``: stop at ``<|endofchunk|>``, never emit ``<image>``."""
    return Search(
        max_new_tokens=settings.max_new_tokens,
        eos=(model.eoc_token_id,),
        pad=pad,
        min_new_tokens=settings.min_new_tokens,
        num_beams=settings.num_beams,
        length_penalty=settings.length_penalty,
        banned=(model.media_token_id,),
    )


def generate_own_loop(
    model: Flamingo,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    media: torch.Tensor,
    search: Search,
    positions: dict[str, torch.Tensor],
    switches: OpenFlamingoSettings,
) -> torch.Tensor:
    """(B, new tokens): one prompt pass per prompt, then ``decoding.decode``.

    ``switches.cuda_graphs``: decoding steps in fixed shapes, replayed from a CUDA graph on a GPU; only
    with the in-place cache (``static_kv_cache``) and an LM that takes a prepared SDPA mask (not
    fseval's MosaicGPT). ``stop_lag``: how many steps late the stop flag is read.
    """
    sdpa_mask = takes_sdpa_mask(model.lang_encoder)
    graphs = switches.cuda_graphs and switches.static_kv_cache and sdpa_mask
    if switches.cuda_graphs and not graphs:
        _say_once(
            "cuda_graphs is ignored: it needs static_kv_cache and a language model that takes a prepared SDPA mask "
            f"(this one is {getattr(model.lang_encoder.config, 'model_type', '?')!r})."
        )
    cache = DecodingCache(search.max_new_tokens) if switches.static_kv_cache else None
    try:
        out = model(
            None,
            input_ids,
            attention_mask=attention_mask,
            media=media,
            use_cache=True,
            clear_conditioned_layers=False,
            logits_to_keep=1,
            past_key_values=cache,
            **positions,
        )
        steps = TokenSteps(
            model.lang_encoder, out.cache, attention_mask, search.max_new_tokens, model.cache_kwarg, bool(positions),
            sdpa_mask,
        )  # fmt: skip
        logits = out.logits[:, -1]
        del out
        state = model.media_state  # what a captured step reads of the media state: held while its graph lives
        return decode(
            steps, logits, search, switches.stop_lag, graphs, lambda: (state.last_time, state.text_time, state.media)
        )
    finally:
        model.media_state.clear()


def generate_transformers(
    model: Flamingo,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    media: torch.Tensor,
    options: dict[str, Any],
    positions: dict[str, torch.Tensor],
    switches: OpenFlamingoSettings,
    shared: MediaKV | None,
) -> torch.Tensor:
    """(B, new tokens) from ``generate`` with ``options``; beams after one prompt pass if ``beam_prefill_once``."""
    if options["num_beams"] > 1 and switches.beam_prefill_once and input_ids.shape[1] > 1:
        output = _generate_after_prefill(model, input_ids, attention_mask, media, options, positions, shared)
    else:
        output = model.generate(None, input_ids, attention_mask=attention_mask, media=media, **options)
    return output[:, input_ids.shape[1] :]


def _generate_after_prefill(
    model: Flamingo,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    media: torch.Tensor,
    options: dict[str, Any],
    positions: dict[str, torch.Tensor],
    shared: MediaKV | None,
) -> torch.Tensor:
    """Beam search whose prompt pass runs once per prompt, not once per beam.

    ``generate`` copies every prompt ``num_beams`` times before its first forward pass, so
    the prompt (the bulk of the work at several shots) is computed ``num_beams`` times. Here
    all but the last prompt token go through the model once; the key/value cache is then
    repeated per beam and ``generate`` continues from it with the full ``input_ids``, so scores,
    lengths and stopping are those of the plain call.
    """
    head, head_mask = input_ids[:, :-1], attention_mask[:, :-1]
    options = dict(options)
    out = model(
        None,
        head,
        attention_mask=head_mask,
        media=media,
        use_cache=True,
        clear_conditioned_layers=False,
        logits_to_keep=1,  # the cache is what this pass is for: no vocabulary projection of the prompt
        past_key_values=options.pop(model.cache_kwarg, None),
        **{name: value[:, :-1] for name, value in positions.items()},
    )
    cache = out.cache
    del out
    if shared is not None:  # the head pass left out the last token: its image counts too
        shared.prepare_decoding((input_ids == model.media_token_id).sum(dim=1))
    cache.batch_repeat_interleave(options["num_beams"])  # the media and image positions follow by themselves
    try:
        return model.lang_encoder.generate(  # type: ignore[operator]
            input_ids=input_ids,
            attention_mask=attention_mask,
            eos_token_id=model.eoc_token_id,
            use_cache=True,
            **{model.cache_kwarg: cache},
            **options,
        )
    finally:
        model.media_state.clear()
