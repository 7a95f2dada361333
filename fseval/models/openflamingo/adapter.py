"""fseval adapter for OpenFlamingo models: batched generation and candidate ranking.

Follows OpenFlamingo's evaluation (``open_flamingo/eval/models/open_flamingo.py``): left-padded
prompts, beam search with a length penalty, generation stopped at ``<|endofchunk|>`` and decoded
without special tokens; ranking scores each candidate's tokens, tokenised on their own, after the
prompt, reusing the prompt's key/value cache. Unlike the reference, ranking keeps the prompt's
padding mask for the candidate tokens, and generation never emits ``<image>`` (a marker without
an image has no meaning; OpenFlamingo allows it).

Speed (each a field of ``OpenFlamingoSettings``, the one place it is declared, read from ``self.settings``
where it is used; all on by default but ``cuda_graphs``; ``benchmarks/perf.py`` measures them):

- ``media_cache``: resampled vision features are cached across the whole run under a hash of
  the decoded pixels, so each demo-pool image is encoded once however many queries use it, and
  identical images under different paths share one entry. The cache is an LRU bounded by
  ``media_cache_bytes`` (default 2 GiB of features: ~8k ViT-L images in fp32, 16k in bf16); off,
  every image of every prompt is encoded, as OpenFlamingo does.
- ``shared_media_kv``: cross-attention keys/values of the media are projected once per call and
  reused across decoding steps, beams and ranked candidates (``media_kv.py``).
- ``decoding_loop="fseval"``: fseval's greedy and beam search (``decoding.py``, via
  ``generation.py``): the tokens ``generate`` picks, each prompt run once, no host-device sync per
  step (the stop flag read ``stop_lag`` steps late); ``cuda_graphs`` (off) replays the steps from a
  CUDA graph. ``"transformers"`` calls ``generate``, as OpenFlamingo does.
- ``beam_prefill_once`` (transformers' loop): beam search runs the prompt through the model once per
  prompt and repeats its key/value cache per beam (``generate`` alone runs it once per beam).
- ``static_kv_cache``: generation writes keys/values in place into a buffer sized for the prompt
  and the tokens to come, and beam search reorders only the beams' generated positions
  (``kv_cache.DecodingCache``); otherwise every step re-concatenates and re-gathers the whole cache.
- ``rank_strategy="packed"``: the engine's ranking loop (``kv_cache.score_in_passes``, as IDEFICS
  and hf_vlm rank): all candidates of all prompts of a call, sorted by token length,
  continue the prompts' key/value cache in passes of at most ``rank_chunk_tokens`` tokens (None:
  what a quarter of free GPU memory, or 2 GiB on CPU, holds of gathered keys/values); where
  passes start is chosen so that padding plus per-pass overhead is least (``plan_passes``), and
  each pass gathers the prompt's keys/values once into a buffer the candidates' own go into.
  The last token of each candidate is not fed (its output is never used) and single-token
  candidates are scored from the prompt pass alone. ``"chunked"`` is the previous per-prompt
  loop over ``rank_batch_size`` candidates (1: one candidate per pass, as OpenFlamingo does),
  kept as the plain reference the packed passes are tested and benchmarked against.
- a CUDA out-of-memory error in a packed ranking pass halves the pass and retries, and the adapter
  keeps the smaller size (``rank_passes``, an ``engine.memory.Halving``).
- ``prepare_media`` (called by the harness's background prefetcher) hashes and preprocesses
  upcoming images off the main thread.

``compat="openflamingo"`` (``fseval run --compat openflamingo``, given to the constructor by the
loader) ranks as OpenFlamingo's ``get_rank_classifications`` does: the candidate tokens continue the
prompt's cache without an attention mask, so they attend to the left padding of shorter prompts in
the batch, and no position ids are passed (the LM counts positions from the padded start, as a
plain forward did on transformers 4.33). Scores then depend on which prompts share a batch, as
OpenFlamingo's do.

With ``profile = True`` the adapter adds the seconds of each stage to ``stage_seconds``
(preprocess, vision, prefill, decode) and counts encoded images in ``counters``.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from fseval.models.base import ModelAdapter
from fseval.models.engine.decoding import unsupported_settings
from fseval.models.engine.kv_cache import DecodingCache, Row, gather_rows, score_in_passes
from fseval.models.engine.media_cache import MediaFeatureCache
from fseval.models.engine.memory import Halving
from fseval.models.engine.tokenization import decode, release_era_cleanup
from fseval.models.openflamingo import compat, generation
from fseval.models.openflamingo.flamingo import Flamingo
from fseval.models.openflamingo.media_kv import MediaKV, shared_media_kv
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.types import GenerationSettings, Media, Prompt

COMPAT_MODES = ("openflamingo",)


class OpenFlamingoAdapter(ModelAdapter):
    """``.model`` is the torch ``Flamingo`` module; ``.settings`` the family's validated settings, read where used."""

    compat_modes = COMPAT_MODES
    rank_batch_size: int | None = None
    """Candidates per pass of the chunked ranking (None: 64), and at most that many rows per packed pass."""
    vision_batch_size = 128
    """Images through the vision encoder at a time."""

    def __init__(
        self,
        model: Flamingo,
        tokenizer: Any,
        image_processor: Any,
        settings: OpenFlamingoSettings,
        *,
        precision: str = "fp32",
        device: str = "cpu",
        name: str = "openflamingo",
        compat: str | None = None,
    ) -> None:
        if compat is not None and compat not in COMPAT_MODES:
            raise ValueError(f"compat must be one of {COMPAT_MODES} or None, not {compat!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.settings = settings
        self.precision = precision
        self.device = torch.device(device)
        self.name = name
        self.compat = compat
        cleanup = settings.clean_up_tokenization_spaces
        self.clean_up_tokenization_spaces = release_era_cleanup(tokenizer) if cleanup is None else cleanup
        # The ranking passes' token limit: settings.rank_chunk_tokens, halved on out-of-memory and kept.
        self.rank_passes = Halving(settings.rank_chunk_tokens)
        self.profile = False
        self.stage_seconds: defaultdict[str, float] = defaultdict(float)
        self.counters: defaultdict[str, int] = defaultdict(int)
        # Late-bound preprocessing, so that a patched ``preprocess`` is what the cache calls.
        self.features = MediaFeatureCache(lambda item: self.preprocess(item), settings.media_cache_bytes)
        self._checkpoint_sha256: str | None = None
        self._prefill_started: float | None = None
        model.lang_encoder.register_forward_pre_hook(self._lm_started, with_kwargs=True)
        model.lang_encoder.register_forward_hook(self._lm_finished)

    # -- profiling ----------------------------------------------------------------------------
    def _now(self) -> float:
        if self.profile and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    @contextmanager
    def _stage(self, stage: str) -> Iterator[None]:
        if not self.profile:
            yield
            return
        start = self._now()
        try:
            yield
        finally:
            self.stage_seconds[stage] += self._now() - start

    def _lm_started(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if self.profile and (cache is None or cache.get_seq_length() == 0):
            self._prefill_started = self._now()

    def _lm_finished(self, module: Any, args: tuple[Any, ...], output: Any) -> None:
        if self._prefill_started is not None:
            self.stage_seconds["prefill"] += self._now() - self._prefill_started
            self._prefill_started = None

    # -- inputs -------------------------------------------------------------------------------
    def _encode_text(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.tokenizer(list(texts), padding="longest", return_tensors="pt")
        return encoded["input_ids"].to(self.device), encoded["attention_mask"].to(self.device)

    def preprocess(self, item: Media) -> torch.Tensor:
        """(F, C, H, W) pixels. Frames go in as decoded: open_clip's transform converts to RGB after
        resizing, as it did for OpenFlamingo's datasets (palette and RGBA images resize differently)."""
        return torch.stack([self.image_processor(frame) for frame in item.frames])

    def content_key(self, item: Media) -> str:
        """The cache key of a media item: a hash of its frames' pixels, whatever its path."""
        return self.features.key(item)

    def prepare_media(self, items: Sequence[Media]) -> None:
        """Hash and preprocess items whose features are not cached yet (thread-safe; for prefetching)."""
        if self.settings.media_cache:
            self.features.prepare(items)

    def _encode_items(self, items: Sequence[Media], keys: Sequence[str] | None = None) -> list[torch.Tensor]:
        """Resampled latents (n, D) of each item; items with the same frame count are encoded together."""
        dtype = next(self.model.perceiver.parameters()).dtype
        out: list[torch.Tensor | None] = [None] * len(items)
        by_frames: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            by_frames.setdefault(len(item.frames), []).append(index)
        for indices in by_frames.values():
            for start in range(0, len(indices), self.vision_batch_size):
                chunk = indices[start : start + self.vision_batch_size]
                with self._stage("preprocess"):
                    pixels = torch.stack([self.features.pixels(items[i], keys[i] if keys else None) for i in chunk])[
                        :, None
                    ]  # (N, 1, F, C, H, W)
                with self._stage("vision"):
                    latents = self.model.encode_vision_x(pixels.to(self.device, dtype))[:, 0]
                self.counters["vision_images"] += len(chunk)
                for i, value in zip(chunk, latents, strict=True):
                    out[i] = value
        return [value for value in out if value is not None]

    def _encode_media(self, prompts: Sequence[Prompt]) -> torch.Tensor:
        """(B, T_img, n, D) resampled media, zero-padded on T_img; cached by content unless ``media_cache`` is off."""
        dtype = next(self.model.perceiver.parameters()).dtype
        n, dim = self.model.perceiver.latents.shape
        t_max = max((len(prompt.media) for prompt in prompts), default=0)
        media = torch.zeros(len(prompts), t_max, n, dim, device=self.device, dtype=dtype)
        slots = [(i, j, item) for i, prompt in enumerate(prompts) for j, item in enumerate(prompt.media)]
        if not slots:
            return media
        items = [item for *_, item in slots]
        if self.settings.media_cache:
            with self._stage("preprocess"):
                keys = [self.features.key(item) for item in items]
            encoded = self.features.get(keys, items, self._encode_items)
        else:  # every image of every prompt, as OpenFlamingo's evaluation does
            encoded = self._encode_items(items)
        for (i, j, _), value in zip(slots, encoded, strict=True):
            media[i, j] = value
        return media

    def clear_media_cache(self) -> None:
        self.features.clear()

    # -- ModelAdapter -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        return self.decode(self.generate_ids(prompts, settings)) if prompts else []

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Generated ids as text, special tokens removed, cleaned up as transformers 4.33 did for this tokenizer."""
        return decode(self.tokenizer, ids, self.clean_up_tokenization_spaces)

    @torch.inference_mode()
    def generate_ids(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> torch.Tensor:
        """(B, new tokens) ids of each prompt's continuation, padded after its end."""
        media = self._encode_media(prompts)
        input_ids, attention_mask = self._encode_text([p.text for p in prompts])
        prefill_before = self.stage_seconds["prefill"]
        started = self._now() if self.profile else 0.0
        positions = self._positions(attention_mask, input_ids.shape[1])
        with shared_media_kv(self.model, self.settings.shared_media_kv) as shared:
            conditioning = self._conditioning(media, shared)
            if self.settings.decoding_loop == "fseval" and not self.unsupported_generation_settings:
                search = generation.search_for(self.model, settings, self.tokenizer.pad_token_id)
                output = generation.generate_own_loop(
                    self.model, input_ids, attention_mask, conditioning, search, positions, self.settings
                )
            else:
                output = generation.generate_transformers(
                    self.model, input_ids, attention_mask, conditioning, self._generate_options(settings), positions,
                    self.settings, shared,
                )  # fmt: skip
        if self.profile:
            prefill = self.stage_seconds["prefill"] - prefill_before
            self.stage_seconds["decode"] += self._now() - started - prefill
        return output

    @property
    def unsupported_generation_settings(self) -> list[str]:
        """Fields of the LM's ``generation_config`` that make generation fall back to transformers' loop."""
        return unsupported_settings(getattr(self.model.lang_encoder, "generation_config", None))

    def _generate_options(self, settings: GenerationSettings) -> dict[str, Any]:
        """``generate``'s arguments for ``settings``, as OpenFlamingo's evaluation passes them."""
        options: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "min_new_tokens": settings.min_new_tokens,
            "num_beams": settings.num_beams,
            **({"length_penalty": settings.length_penalty} if settings.num_beams > 1 else {}),
            "do_sample": False,
            "pad_token_id": self.tokenizer.pad_token_id,
            "bad_words_ids": [[self.model.media_token_id]],
        }
        if self.settings.static_kv_cache:
            options[self.model.cache_kwarg] = DecodingCache(settings.max_new_tokens + 1)
        return options

    @staticmethod
    def _conditioning(media: torch.Tensor, shared: MediaKV | None) -> torch.Tensor:
        """What the Flamingo layers are conditioned on: the media, or with shared keys/values a stand-in.

        The patched layers read ``shared.source``; the stand-in keeps the (B, T_img) shape the
        layers expand per beam or candidate without copying the latents each time.
        """
        if shared is None:
            return media
        shared.condition(media)
        return media[:, :, :1, :1]

    @torch.inference_mode()
    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        if len(prompts) != len(candidates):
            raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
        if not prompts:
            return []
        model, state = self.model, self.model.media_state
        media = self._encode_media(prompts)
        input_ids, attention_mask = self._encode_text([p.text for p in prompts])
        with shared_media_kv(self.model, self.settings.shared_media_kv) as shared:
            prompt_out = model(
                None,
                input_ids,
                attention_mask=self._prompt_mask(attention_mask),
                media=self._conditioning(media, shared),
                use_cache=True,
                clear_conditioned_layers=False,
                logits_to_keep=1,  # only the last position predicts a candidate token
                **self._prompt_positions(attention_mask, input_ids.shape[1]),
            )
            prompt = _PromptState(prompt_out.cache, attention_mask, state.last_time, state.media)
            first_logprobs = torch.log_softmax(prompt_out.logits[:, -1].float(), dim=-1)
            del prompt_out
            try:
                with self._stage("decode"):
                    if self.settings.rank_strategy == "packed":
                        return self._rank_packed(candidates, prompt, first_logprobs, shared)
                    return self._rank_chunked(candidates, prompt, first_logprobs, shared)
            finally:
                state.clear()

    @property
    def _model_type(self) -> str:
        return str(getattr(self.model.lang_encoder.config, "model_type", ""))

    def _prompt_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """The ranking prompt pass's mask: its padding, or under compat the mask OpenFlamingo's LM computed."""
        if self.compat != "openflamingo":
            return attention_mask
        return compat.prompt_mask(attention_mask, self._model_type, next(self.model.perceiver.parameters()).dtype)

    def _prompt_positions(self, attention_mask: torch.Tensor, length: int) -> dict[str, torch.Tensor]:
        if self.compat != "openflamingo":
            return self._positions(attention_mask, length)
        return compat.prompt_positions(attention_mask, self._model_type)

    def _rank_chunked(
        self,
        candidates: Sequence[Sequence[str]],
        prompt: _PromptState,
        first_logprobs: torch.Tensor,
        shared: MediaKV | None,
    ) -> list[list[list[float]]]:
        """Per prompt, ``rank_batch_size`` candidates per pass, each fed whole (the previous fseval path)."""
        results: list[list[list[float]]] = []
        size = self.rank_batch_size or 64
        for i, options in enumerate(candidates):
            scores: list[list[float]] = []
            for start in range(0, len(options), size):
                chunk = list(options[start : start + size])
                token_lists = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in chunk]
                if max(len(t) for t in token_lists) == 0:
                    scores += [[] for _ in chunk]
                    continue
                rows = [i] * len(chunk)
                logprobs = self._continue(prompt, rows, [list(t) for t in token_lists], shared)
                first = first_logprobs[i].expand(len(chunk), 1, -1)
                logprobs = torch.cat([first, logprobs[:, :-1]], dim=1)
                width = logprobs.shape[1]
                tokens = torch.tensor(
                    [t + [0] * (width - len(t)) for t in token_lists], device=self.device, dtype=torch.long
                )
                picked = logprobs.gather(-1, tokens[:, :, None])[:, :, 0]
                scores += [picked[j, : len(t)].tolist() for j, t in enumerate(token_lists)]
            results.append(scores)
        return results

    def _rank_packed(
        self,
        candidates: Sequence[Sequence[str]],
        prompt: _PromptState,
        first_logprobs: torch.Tensor,
        shared: MediaKV | None,
    ) -> list[list[list[float]]]:
        """Every candidate of every prompt in the engine's length-sorted passes (``kv_cache.score_in_passes``).

        The whole padded prompt is cached and each candidate, tokenised on its own, follows it. Passes
        hold at most ``rank_passes.limit`` tokens (``settings.rank_chunk_tokens`` at first), which keeps a pass
        halved on out-of-memory.
        """
        unique = sorted({c for options in candidates for c in options})
        encoded = self.tokenizer(unique, add_special_tokens=False)["input_ids"] if unique else []
        token_ids = {c: list(t) for c, t in zip(unique, encoded, strict=True)}
        rows = [(i, j, token_ids[c], len(token_ids[c])) for i, cs in enumerate(candidates) for j, c in enumerate(cs)]
        scores: list[list[list[float]]] = [[[] for _ in options] for options in candidates]

        def run_pass(chunk: Sequence[Row]) -> torch.Tensor:
            return self._continue(prompt, [i for i, *_ in chunk], [rest[:-1] for _, _, rest, _ in chunk], shared)

        score_in_passes(
            rows, prompt.mask.shape[1], prompt.cache, first_logprobs, run_pass, scores, self.rank_batch_size,
            self.rank_passes,
        )  # fmt: skip
        return scores

    def _continue(
        self, prompt: _PromptState, rows: list[int], token_lists: list[list[int]], shared: MediaKV | None
    ) -> torch.Tensor:
        """Log-probabilities (B, width, V) after each of ``token_lists``' tokens, continuing prompt ``rows``."""
        width = max(len(t) for t in token_lists)
        pad = self.tokenizer.pad_token_id
        tokens = torch.tensor([t + [pad] * (width - len(t)) for t in token_lists], device=self.device)
        cand_mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in token_lists], device=self.device)
        row_index = torch.tensor(rows, device=self.device)
        prompt_mask = prompt.mask[row_index]
        if self.compat == "openflamingo":  # attention_mask=None: the prompt's padding is attended to
            prompt_mask = torch.ones_like(prompt_mask)
        mask = torch.cat([prompt_mask, cand_mask], dim=1)
        state = self.model.media_state
        assert prompt.last_time is not None and prompt.media is not None
        state.media, state.last_time = prompt.media[row_index], prompt.last_time[row_index]
        if shared is not None:
            shared.rows, shared.continuation = row_index, True
        out = self.model(
            None,
            tokens,
            attention_mask=mask,
            past_key_values=gather_rows(prompt.cache, row_index, width),
            use_cache=True,
            clear_conditioned_layers=False,
            **({} if self.compat else self._positions(mask, width)),
        )
        return torch.log_softmax(out.logits.float(), dim=-1)

    def _positions(self, attention_mask: torch.Tensor, length: int) -> dict[str, torch.Tensor]:
        """Position ids that skip left padding, as ``generate`` computes them, for LMs that take them.

        Without them, LMs with absolute positions (GPT-2, GPT-J) would shift padded prompts.
        """
        if "position_ids" not in inspect.signature(self.model.lang_encoder.forward).parameters:
            return {}
        return {"position_ids": (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]}

    @property
    def arguments(self) -> dict[str, Any]:
        """What results.json records of the settings: the model's parts, not its speed switches (which change no
        result)."""
        s = self.settings
        parts = (
            "vision_encoder",
            "vision_pretrained",
            "vision_config",
            "lm",
            "checkpoint",
            "cross_attn_every_n_layers",
        )
        recorded = {key: getattr(s, key) for key in parts}
        recorded.update(
            tokenizer=s.tokenizer or s.lm, frame_embeddings=s.frame_embeddings, vision_token_ln=s.vision_token_ln
        )
        return recorded

    def describe(self) -> dict[str, Any]:
        checkpoint = self.settings.checkpoint
        if checkpoint and self._checkpoint_sha256 is None:
            digest = hashlib.sha256()
            with Path(checkpoint).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 24), b""):
                    digest.update(block)
            self._checkpoint_sha256 = digest.hexdigest()[:16]
        return {
            "family": "openflamingo",
            "name": self.name,
            "arguments": self.arguments,
            "lm_model_type": getattr(self.model.lang_encoder.config, "model_type", None),
            "checkpoint_sha256": self._checkpoint_sha256,
            "precision": self.precision,
            "device": str(self.device),
            # The conventions of the library versions the numbers are faithful to (docs/fidelity.md).
            "vision_tokens": "ln_post (open_clip >= 2.23)"
            if self.model.vision_token_ln
            else "no ln_post (open_clip <= 2.20, OpenFlamingo's training)",
            "decoding": "transformers 4.33 clean-up" if self.clean_up_tokenization_spaces else "no clean-up",
        }


class _PromptState:
    """The prompt pass of a ranking call: its key/value cache, padding mask and media conditioning."""

    def __init__(self, cache: Any, mask: torch.Tensor, last_time: torch.Tensor | None, media: Any) -> None:
        self.cache, self.mask, self.last_time, self.media = cache, mask, last_time, media
