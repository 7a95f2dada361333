"""Ranking: per-token log-probabilities of candidate continuations, each prompt run once.

A prompt (with its images) runs once; its candidates continue its key/value cache in length-sorted
passes (``fseval.models.engine.kv_cache``), so a thousand ImageNet class names cost one prompt pass and
the class names' own tokens. A candidate is tokenised together with its prompt's text
(``split_continuation``): a token merged across the boundary is scored with the candidate. The
tokens are read in the processor's token space, in which each image placeholder is expanded; the
text after the last image tokenises alike in both spaces, which is where the boundary lies.

In the chat style a candidate continues the assistant's turn as a demo's answer is written (after
the template's answer prefix, e.g. Idefics2's space after ``Assistant:``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import torch

from fseval.errors import FsevalError
from fseval.models.engine.kv_cache import (
    Continuation,
    Row,
    gather_rows,
    rows_after_cache,
    score_in_passes,
    split_continuation,
)
from fseval.models.hf_vlm.generation import position_ids
from fseval.models.hf_vlm.prompts import ChatFormat
from fseval.models.hf_vlm.settings import HfVlmSettings
from fseval.types import Prompt

PER_TOKEN = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


class Ranker(Protocol):
    model: Any
    tokenizer: Any
    chat: ChatFormat
    settings: HfVlmSettings

    def texts(self, prompts: Sequence[Prompt]) -> list[str]: ...

    def batch(self, prompts: Sequence[Prompt], texts: Sequence[str] | None = None) -> dict[str, Any]: ...


@torch.inference_mode()
def rank(adapter: Ranker, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
    """``ModelAdapter.rank``: ``result[i][j]``, the log-probabilities of candidate ``j``'s tokens after prompt ``i``."""
    texts = adapter.texts(prompts)
    batch = adapter.batch(prompts, texts)
    mask = batch["attention_mask"].bool().cpu()
    expanded = [ids[keep].tolist() for ids, keep in zip(batch["input_ids"].cpu(), mask, strict=True)]
    continuations = continuations_of(adapter.tokenizer, adapter.chat.answer_prefix, texts, expanded, candidates)
    scores: list[list[list[float]]] = [[[] for _ in options] for options in candidates]
    if not continuations:
        return scores
    shared, rows = rows_after_cache([len(ids) for ids in expanded], continuations)
    out, positions = prompt_pass(adapter, trimmed(batch, shared, adapter.tokenizer.pad_token_id))
    first = out.logits[:, -1].float().log_softmax(dim=-1)
    prompt_mask = trimmed(batch, shared, 0)["attention_mask"]
    state = (out.cache, prompt_mask, positions, first)
    run_pass = functools.partial(continue_rows, adapter.model, state)
    score_in_passes(rows, max(shared), out.cache, first, run_pass, scores, adapter.settings.rank_batch_size)
    return scores


def continuations_of(
    tokenizer: Any,
    prefix: str,
    texts: Sequence[str],
    expanded: Sequence[list[int]],
    candidates: Sequence[Sequence[str]],
) -> list[Continuation]:
    """Per candidate: its prompt's ids (as the processor made them) continued by the candidate's tokens."""
    found: list[Continuation] = []
    for i, (text, options) in enumerate(zip(texts, candidates, strict=True)):
        encoded = tokenizer([text, *(text + prefix + option for option in options)], add_special_tokens=False)
        context, *fulls = (list(ids) for ids in encoded["input_ids"])
        for j, plain in enumerate(fulls):
            _, count = split_continuation(context, plain)
            common = len(plain) - count
            dropped = len(context) - common  # prompt tokens merged with the candidate's first
            prompt = expanded[i][: len(expanded[i]) - dropped]
            if expanded[i][len(prompt) :] != context[common:]:
                raise FsevalError(
                    "A ranking candidate merges with an image's tokens at the end of its prompt.",
                    hint="End the prompt with text after its last <image>.",
                )
            found.append((i, j, prompt + plain[common:], count))
    return found


def trimmed(batch: dict[str, Any], lengths: Sequence[int], pad: int) -> dict[str, Any]:
    """The batch with row ``i`` cut to its first ``lengths[i]`` real tokens, left-padded again.

    The per-token inputs (ids, mask, token types) are cut; images are left as they are.
    """
    mask = batch["attention_mask"].bool()
    width = max(lengths)
    out = dict(batch)
    for key, value in batch.items():
        if key in PER_TOKEN and isinstance(value, torch.Tensor):
            fill = pad if key == "input_ids" else 0
            rows = [row[keep][:length] for row, keep, length in zip(value, mask, lengths, strict=True)]
            out[key] = torch.stack([torch.cat([row.new_full((width - len(row),), fill), row]) for row in rows])
    return out


def prompt_pass(adapter: Any, batch: dict[str, Any], use_cache: bool = True) -> tuple[Any, torch.Tensor]:
    """The prompts through the model once: (output with its cache and last logits, position ids)."""
    positions = position_ids(adapter.model, batch)
    out = adapter.model(**batch, position_ids=positions, use_cache=use_cache, logits_to_keep=1)
    return out, positions


def continue_rows(
    model: Any, state: tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor], rows: Sequence[Row]
) -> torch.Tensor:
    """Log-probabilities (rows, width, vocab) after each fed token of ranking ``rows`` (``kv_cache.Row``).

    A row feeds ``rest[:-1]`` after its prompt's cache; its positions continue the prompt's last
    position (on every axis of a multimodal position id: text after the images advances all of them).
    """
    cache, prompt_mask, positions, first = state
    device = first.device
    fed = [rest[:-1] for _, _, rest, _ in rows]
    width = max(len(ids) for ids in fed)
    tokens = torch.tensor([ids + [0] * (width - len(ids)) for ids in fed], device=device)
    lengths = torch.tensor([len(ids) for ids in fed], device=device)
    token_mask = (torch.arange(width, device=device) < lengths[:, None]).long()
    index = torch.tensor([i for i, *_ in rows], device=device)
    steps = 1 + torch.arange(width, device=device)
    continued = positions[..., -1:].index_select(-2, index.to(positions.device)) + steps.to(positions.device)
    out = model(
        input_ids=tokens,
        attention_mask=torch.cat([prompt_mask[index], token_mask], dim=1),
        position_ids=continued,
        cache=gather_rows(cache, index, width),
        use_cache=True,
    )
    return out.logits.float().log_softmax(dim=-1)
