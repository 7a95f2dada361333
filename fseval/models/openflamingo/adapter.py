"""fseval adapter for OpenFlamingo models: batched generation and candidate ranking.

Follows OpenFlamingo's evaluation (``open_flamingo/eval/models/open_flamingo.py``): left-padded
prompts, beam search with a length penalty, generation stopped at ``<|endofchunk|>`` and decoded
without special tokens; ranking scores each candidate's tokens, tokenised on their own, after the
prompt, reusing the prompt's key/value cache. Unlike the reference, ranking keeps the prompt's
padding mask for the candidate tokens, and generation never emits ``<image>`` (a marker without
an image has no meaning; OpenFlamingo allows it).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fseval.models.base import GenerationSettings, Media, Prompt
from fseval.models.openflamingo.flamingo import Flamingo


class OpenFlamingoAdapter:
    """Satisfies ``fseval.models.base.ModelAdapter``; ``.model`` is the torch ``Flamingo`` module."""

    def __init__(
        self,
        model: Flamingo,
        tokenizer: Any,
        image_processor: Any,
        arguments: dict[str, Any],
        precision: str = "fp32",
        device: str = "cpu",
        name: str = "openflamingo",
        rank_batch_size: int = 64,
        media_cache_size: int = 256,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.arguments = arguments
        self.precision = precision
        self.device = torch.device(device)
        self.name = name
        self.rank_batch_size = rank_batch_size
        self.media_cache_size = media_cache_size
        self._media_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._checkpoint_sha256: str | None = None

    # -- inputs -------------------------------------------------------------------------------
    def _encode_text(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.tokenizer(list(texts), padding="longest", return_tensors="pt")
        return encoded["input_ids"].to(self.device), encoded["attention_mask"].to(self.device)

    def _pixels(self, item: Media) -> torch.Tensor:
        return torch.stack([self.image_processor(frame.convert("RGB")) for frame in item.frames])

    def _encode_media(self, prompts: Sequence[Prompt]) -> torch.Tensor:
        """(B, T_img, n, D) resampled media; each distinct key is encoded once and kept in an LRU cache."""
        todo: dict[str, Media] = {}
        for prompt in prompts:
            for item in prompt.media:
                if item.key not in self._media_cache:
                    todo.setdefault(item.key, item)
        by_frames: dict[int, list[Media]] = {}
        for item in todo.values():
            by_frames.setdefault(len(item.frames), []).append(item)
        dtype = next(self.model.perceiver.parameters()).dtype
        for items in by_frames.values():
            pixels = torch.stack([self._pixels(item) for item in items])[:, None]  # (N, 1, F, C, H, W)
            latents = self.model.encode_vision_x(pixels.to(self.device, dtype))[:, 0]
            for item, value in zip(items, latents, strict=True):
                self._media_cache[item.key] = value
        t_max = max(len(prompt.media) for prompt in prompts)
        n, dim = self.model.perceiver.latents.shape
        media = torch.zeros(len(prompts), t_max, n, dim, device=self.device, dtype=dtype)
        for i, prompt in enumerate(prompts):
            for j, item in enumerate(prompt.media):
                media[i, j] = self._media_cache[item.key]
                self._media_cache.move_to_end(item.key)
        while len(self._media_cache) > self.media_cache_size:
            self._media_cache.popitem(last=False)
        return media

    # -- ModelAdapter -------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        if not prompts:
            return []
        media = self._encode_media(prompts)
        input_ids, attention_mask = self._encode_text([p.text for p in prompts])
        output = self.model.generate(
            None,
            input_ids,
            attention_mask=attention_mask,
            media=media,
            max_new_tokens=settings.max_new_tokens,
            min_new_tokens=settings.min_new_tokens,
            num_beams=settings.num_beams,
            **({"length_penalty": settings.length_penalty} if settings.num_beams > 1 else {}),
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            bad_words_ids=[[self.model.media_token_id]],
        )
        return self.tokenizer.batch_decode(output[:, input_ids.shape[1] :], skip_special_tokens=True)

    @torch.inference_mode()
    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        if len(prompts) != len(candidates):
            raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
        if not prompts:
            return []
        model, state = self.model, self.model.media_state
        media = self._encode_media(prompts)
        input_ids, attention_mask = self._encode_text([p.text for p in prompts])
        prompt_out = model(
            None,
            input_ids,
            attention_mask=attention_mask,
            media=media,
            use_cache=True,
            clear_conditioned_layers=False,
            **self._positions(attention_mask, input_ids.shape[1]),
        )
        prompt_cache = prompt_out.cache
        prompt_time = state.last_time
        assert prompt_time is not None
        first_logprobs = torch.log_softmax(prompt_out.logits[:, -1].float(), dim=-1)
        results: list[list[list[float]]] = []
        try:
            for i, options in enumerate(candidates):
                scores: list[list[float]] = []
                for start in range(0, len(options), self.rank_batch_size):
                    chunk = list(options[start : start + self.rank_batch_size])
                    rows = torch.full((len(chunk),), i, device=self.device)
                    state.media, state.last_time = media[rows], prompt_time[rows]
                    scores += self._score_chunk(chunk, rows, prompt_cache, attention_mask, first_logprobs[i])
                results.append(scores)
        finally:
            state.clear()
        return results

    def _score_chunk(
        self,
        chunk: list[str],
        rows: torch.Tensor,
        prompt_cache: Any,
        prompt_mask: torch.Tensor,
        first_logprobs: torch.Tensor,
    ) -> list[list[float]]:
        """Log-probabilities of each candidate's tokens, continuing the cached prompt ``rows``."""
        token_lists = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in chunk]
        width = max(len(t) for t in token_lists)
        if width == 0:
            return [[] for _ in chunk]
        pad = self.tokenizer.pad_token_id
        tokens = torch.tensor([t + [pad] * (width - len(t)) for t in token_lists], device=self.device)
        cand_mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in token_lists], device=self.device)
        mask = torch.cat([prompt_mask[rows], cand_mask], dim=1)
        out = self.model(
            None,
            tokens,
            attention_mask=mask,
            past_key_values=_select_rows(prompt_cache, rows),
            use_cache=True,
            clear_conditioned_layers=False,
            **self._positions(mask, width),
        )
        logprobs = torch.log_softmax(out.logits[:, :-1].float(), dim=-1)
        logprobs = torch.cat([first_logprobs.expand(len(chunk), 1, -1), logprobs], dim=1)
        picked = logprobs.gather(-1, tokens[:, :, None])[:, :, 0]
        return [picked[j, : len(t)].tolist() for j, t in enumerate(token_lists)]

    def _positions(self, attention_mask: torch.Tensor, length: int) -> dict[str, torch.Tensor]:
        """Position ids that skip left padding, as ``generate`` computes them, for LMs that take them.

        Without them, LMs with absolute positions (GPT-2, GPT-J) would shift padded prompts.
        """
        if "position_ids" not in inspect.signature(self.model.lang_encoder.forward).parameters:
            return {}
        return {"position_ids": (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]}

    def describe(self) -> dict[str, Any]:
        checkpoint = self.arguments.get("checkpoint")
        if checkpoint and self._checkpoint_sha256 is None:
            digest = hashlib.sha256()
            with Path(checkpoint).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 24), b""):
                    digest.update(block)
            self._checkpoint_sha256 = digest.hexdigest()[:16]
        return {
            "family": "openflamingo",
            "name": self.name,
            "arguments": dict(self.arguments),
            "lm_model_type": getattr(self.model.lang_encoder.config, "model_type", None),
            "checkpoint_sha256": self._checkpoint_sha256,
            "precision": self.precision,
            "device": str(self.device),
        }


def _select_rows(cache: Any, rows: torch.Tensor) -> Any:
    """A view of the cache holding ``rows`` of its batch; the prompt cache itself stays intact."""
    if not hasattr(cache, "layers"):
        cache = copy.deepcopy(cache)
        cache.batch_select_indices(rows)
        return cache
    selected = copy.copy(cache)
    selected.layers = [copy.copy(layer) for layer in cache.layers]
    selected.batch_select_indices(rows)
    return selected
