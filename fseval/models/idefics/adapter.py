"""IDEFICS (HuggingFace M4's open re-implementation of Flamingo) behind fseval's adapter Protocol.

References: Laurençon et al. 2023, "OBELICS: An Open Web-Scale Filtered Dataset of Interleaved
Image-Text Documents" (the IDEFICS-9B/80B models); transformers ``IdeficsForVisionText2Text`` and
``IdeficsProcessor``. Interleaving follows ``inputs.py``.

Demo delimiter. fseval prompts close each demo with ``<|endofchunk|>``, which IDEFICS does not have.
The base models were pretrained on web documents in which ``</s>`` separates packed documents (it
also cuts cross-attention in the processor's mask) and ``<end_of_utterance>`` does not occur (it was
added for the instruction-tuned models' dialogues). HuggingFace M4's own evaluation harness is not
public; third-party few-shot evaluations of the base models (e.g. VL-ICL Bench's IDEFICS path)
separate demos with a newline and explicitly disable ``<end_of_utterance>``. We do the same:
``<|endofchunk|>`` becomes ``\\n`` and generation stops at the newline token. The ``-instruct``
presets end each demo with ``<end_of_utterance>`` instead (followed by the prompt file's newline, as
in their ``...<end_of_utterance>\\nUser:`` dialogue format) and stop there. Either is selectable with
``end_of_chunk=newline|end_of_utterance``.

Video. IDEFICS has no frame axis: each ``<image>`` slot holds one image and a text token attends only
to the latest image, so frames fed as an image sequence would leave the question seeing the last
frame only. That would be a silently different task, so a media item with several frames raises.

Speed (each switchable with ``--model-arg NAME=false``, all on by default): ``media_cache`` keeps
each image's vision-encoder output for the run under a hash of its pixels (``media_cache.py``), so a
demo image is encoded once, not once per query; ``decoding_loop="fseval"`` generates with fseval's
own greedy and beam search (``generation.py``, ``fseval/models/engine/decoding.py``: a prompt pass per
prompt, the in-place cache, no host-device sync per step), ``"transformers"`` with ``generate``,
where ``beam_prefill_once`` runs a prompt once, not once per beam; ``reuse_image_states`` resamples
and projects the images once per generation, not at every decoding step; ranking continues one
prompt pass per prompt for all its candidates.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import transformers
from transformers import IdeficsForVisionText2Text, IdeficsProcessor

from fseval.errors import FsevalError
from fseval.models.base import ModelAdapter, refuse_video
from fseval.models.engine import decoding
from fseval.models.engine.kv_cache import (
    Continuation,
    Row,
    gather_rows,
    rows_after_cache,
    score_in_passes,
    split_continuation,
)
from fseval.models.engine.media_cache import MediaFeatureCache
from fseval.models.engine.tokenization import decode, release_era_cleanup
from fseval.models.idefics import generation
from fseval.models.idefics.image_states import key_value_projections, last_result_reused, once_per_image, patched
from fseval.models.idefics.inputs import (
    END_OF_CHUNK_CHOICES,
    FAKE_TOKEN,
    IdeficsTokens,
    build_batch,
    image_attention_mask,
    prompt_images,
    to_idefics_text,
)
from fseval.models.idefics.settings import IdeficsSettings
from fseval.types import GenerationSettings, Media, Prompt


class IdeficsAdapter(ModelAdapter):
    """Batched generation and ranking with an ``IdeficsForVisionText2Text`` model."""

    vision_batch_size = 64
    """Images through the vision encoder at a time."""

    def __init__(
        self,
        model: IdeficsForVisionText2Text,
        processor: IdeficsProcessor,
        settings: IdeficsSettings,
        *,
        name: str = "idefics",
        provenance: dict[str, Any] | None = None,
    ) -> None:
        end_of_chunk = END_OF_CHUNK_CHOICES[settings.end_of_chunk or "newline"]
        self.model, self.settings, self.name, self.end_of_chunk = model.eval(), settings, name, end_of_chunk
        self.tokenizer, self.image_processor = processor.tokenizer, processor.image_processor
        self.tokenizer.padding_side = "left"  # generation continues from the last position of every row
        if self.tokenizer.pad_token is None:  # IDEFICS's config pads with id 0, <unk>
            self.tokenizer.pad_token = self.tokenizer.unk_token
        # Vision-encoder outputs by pixel hash; late-bound preprocessing, so a patched ``_pixels`` is used.
        self.features = MediaFeatureCache(lambda item: self._pixels(item), settings.media_cache_bytes)
        self.counters: defaultdict[str, int] = defaultdict(int)
        self.provenance = provenance or {}
        self._blank: torch.Tensor | None = None
        self.tokens = IdeficsTokens(
            image=self.tokenizer.convert_tokens_to_ids("<image>"),
            fake=self.tokenizer.convert_tokens_to_ids(FAKE_TOKEN),
            eos=self.tokenizer.eos_token_id,
            stop=first_token_id(self.tokenizer, end_of_chunk),
        )
        embeddable = model.config.vocab_size + model.config.additional_vocab_size
        if self.tokens.stop >= embeddable:
            # A checkpoint whose tokenizer lists <end_of_utterance> may still have no embedding for it.
            raise FsevalError(
                f"This IDEFICS checkpoint has no embedding for {end_of_chunk!r} (id {self.tokens.stop}).",
                hint="Use --model-arg end_of_chunk=newline.",
            )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def idefics_text(self, prompt: Prompt) -> str:
        """The prompt as IDEFICS sees it (BOS, image placeholders, demo delimiters)."""
        return self.model_text(prompt.text)

    def model_text(self, text: str, videos: Sequence[bool] = ()) -> str:
        """An fseval prompt text as IDEFICS's tokenizer receives it (recorded in samples.jsonl)."""
        return to_idefics_text(text, self.tokenizer.bos_token, self.end_of_chunk)

    def _check_single_images(self, prompts: Sequence[Prompt]) -> None:
        refuse_video(prompts, "IDEFICS")

    # -- media: vision-encoder outputs, cached for the run by pixel hash ----------------------
    def _pixels(self, item: Media) -> torch.Tensor:
        # As decoded: the processor composites transparent images on white before converting to RGB.
        return self.image_processor([item.frames[0]], return_tensors="pt")[0]

    def content_key(self, item: Media) -> str:
        return self.features.key(item)

    def prepare_media(self, items: Sequence[Media]) -> None:
        """Hash and preprocess items whose encodings are not cached yet (thread-safe; for prefetching)."""
        if self.settings.media_cache:
            self.features.prepare(items)

    def clear_media_cache(self) -> None:
        self.features.clear()

    def _encode(self, items: Sequence[Media], keys: Sequence[str] | None = None) -> list[torch.Tensor]:
        """The vision encoder's output (tokens, width) for each item, ``vision_batch_size`` at a time."""
        out: list[torch.Tensor] = []
        for start in range(0, len(items), self.vision_batch_size):
            chunk = range(start, min(start + self.vision_batch_size, len(items)))
            pixels = torch.stack([self.features.pixels(items[i], keys[i] if keys else None) for i in chunk])
            self.counters["vision_images"] += len(chunk)
            out += self._vision(pixels)
        return out

    def _vision(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        pixels = pixels.to(device=self.device, dtype=self.model.dtype)
        return list(self.model.model.vision_model(pixel_values=pixels).last_hidden_state)

    def _blank_state(self) -> torch.Tensor:
        """The vision encoder's output for an all-zero image: what the processor puts in unused image slots."""
        if self._blank is None or self._blank.device != self.device:
            size, channels = self.image_processor.image_size, self.image_processor.image_num_channels
            self._blank = self._vision(torch.zeros(1, channels, size, size))[0]
        return self._blank

    def _encoder_states(self, prompts: Sequence[Prompt]) -> list[torch.Tensor]:
        """Each prompt's images through the vision encoder: (images, tokens, width), at least one image.

        A prompt without images gets one all-zero image, as the processor gives it. With
        transformers' cross-attention gate no token reads it; without (``cross_attention_gate=false``)
        tokens before any image attend to every slot, so its content matters.
        """
        items = [media for prompt in prompts for media in prompt.media]
        if self.settings.media_cache and items:
            encoded = self.features.get([self.features.key(item) for item in items], items, self._encode)
        else:
            encoded = self._encode(items)
        states, start = [], 0
        for prompt in prompts:
            count = len(prompt.media)
            states.append(torch.stack(encoded[start : start + count]) if count else self._blank_state()[None])
            start += count
        return states

    def _batch(self, prompts: Sequence[Prompt]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs; the images as cached encoder outputs, or as pixels without the cache."""
        self._check_single_images(prompts)
        texts = [self.idefics_text(p) for p in prompts]
        if not self.settings.media_cache:  # pixels through the whole model at every call, as transformers runs it
            images = [prompt_images(prompt) for prompt in prompts]
            batch = build_batch(texts, images, self.tokenizer, self.image_processor, self.tokens)
            self.counters["vision_images"] += batch["pixel_values"].shape[:2].numel()  # padding slots included
            return {key: value.to(self.device) for key, value in batch.items()}
        encoded = self.tokenizer(texts, add_special_tokens=False, padding="longest", return_tensors="pt")
        states = self._encoder_states(prompts)
        slots = max(len(s) for s in states)
        blank = self._blank_state()[None]
        # Unused image slots hold an all-zero image, as the processor pads pixel_values.
        stacked = torch.stack([torch.cat([s, blank.expand(slots - len(s), -1, -1)]) for s in states])
        mask = image_attention_mask(encoded["input_ids"], self.tokens.image, self.tokens.eos, slots)
        return {
            "input_ids": encoded["input_ids"].to(self.device),
            "attention_mask": encoded["attention_mask"].to(self.device),
            "image_attention_mask": mask.to(self.device),
            "image_hidden_states": stacked,  # what generate hands on between steps, from the first step
        }

    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        return decode(self.tokenizer, self.generate_ids(prompts, settings), release_era_cleanup(self.tokenizer))

    @torch.inference_mode()
    def generate_ids(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[list[int]]:
        """The continuation token ids of each prompt, cut before the end-of-chunk or EOS token."""
        batch = self._batch(prompts)
        with self._image_states_reused():
            if self.settings.decoding_loop == "fseval" and not decoding.unsupported_settings(
                self.model.generation_config
            ):
                new = generation.generate_own_loop(self.model, batch, self._search(settings), self.settings.stop_lag)
            else:
                options = generation.generate_options(self._search(settings))
                if settings.num_beams > 1 and self.settings.beam_prefill_once and batch["input_ids"].shape[1] > 1:
                    batch = generation.prompt_pass_for_beams(self.model, batch, settings.num_beams)
                new = self.model.generate(**batch, **options)[:, batch["input_ids"].shape[1] :]
        return [self._cut(row) for row in new.tolist()]

    def _search(self, settings: GenerationSettings) -> decoding.Search:
        return decoding.Search(
            max_new_tokens=settings.max_new_tokens,
            eos=(self.tokens.stop, self.tokens.eos),
            pad=self.tokenizer.pad_token_id,
            min_new_tokens=settings.min_new_tokens,
            num_beams=settings.num_beams,
            length_penalty=settings.length_penalty,
            banned=(self.tokens.image, self.tokens.fake),  # placeholders inside an answer would corrupt the mask
        )

    @contextmanager
    def _image_states_reused(self) -> Iterator[None]:
        """During one generation, resample the images and project them to keys/values once.

        transformers' IDEFICS hands the vision encoder's output on from step to step and runs the
        perceiver resampler and every cross-attention key/value projection on it again at each
        decoding step, for every beam: at a few shots, more work than the language model's step.
        The same tensor (storage, shape and strides) comes back each step, so each of those modules
        returns its last result while its input is that tensor.
        """
        if not self.settings.reuse_image_states:
            yield
            return
        resampler = [self.model.model.perceiver_resampler] if self.model.config.use_resampler else []
        with patched([*resampler, *key_value_projections(self.model)], last_result_reused):
            yield

    def _cut(self, ids: list[int]) -> list[int]:
        for position, token in enumerate(ids):
            if token in (self.tokens.stop, self.tokens.eos):
                return ids[:position]
        return ids

    @torch.inference_mode()
    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        """Each prompt runs once; its candidates continue its key/value cache in length-sorted passes.

        A candidate is tokenised together with its prompt (``split_continuation``); the prompt pass
        covers what all candidates of a prompt share, so a token merged across the boundary is fed
        with the candidate. Candidate tokens cross-attend to one image, the one they follow, so each
        row carries that image's features alone.
        """
        self._check_single_images(prompts)
        contexts, continuations = self._continuations(prompts, candidates)
        scores: list[list[list[float]]] = [[[] for _ in options] for options in candidates]
        if not continuations:
            return scores
        shared, rows = rows_after_cache([len(context) for context in contexts], continuations)
        # Each prompt's images go through the vision tower once, not once per candidate (ImageNet has 1000).
        features = [self._resampled(states) for states in self._encoder_states(prompts)]
        cache, prompt_mask, first = self._prompt_pass([c[:n] for c, n in zip(contexts, shared, strict=True)], features)
        fulls = {(i, j): full for i, j, full, _ in continuations}

        def run_pass(chunk: Sequence[Row]) -> torch.Tensor:
            fed = [(i, fulls[i, j], shared[i]) for i, j, *_ in chunk]
            return self._continue(cache, prompt_mask, fed, features=features)

        score_in_passes(rows, max(shared), cache, first, run_pass, scores, self.settings.rank_batch_size)
        return scores

    def _continuations(
        self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]
    ) -> tuple[list[list[int]], list[Continuation]]:
        """Each prompt's ids, and each candidate as (prompt, candidate, full ids, scored tokens)."""
        contexts: list[list[int]] = []
        continuations: list[Continuation] = []
        for i, (prompt, options) in enumerate(zip(prompts, candidates, strict=True)):
            text = self.idefics_text(prompt)
            context, *fulls = self._ids([text, *(text + option for option in options)])
            contexts.append(context)
            continuations += [(i, j, *split_continuation(context, full)) for j, full in enumerate(fulls)]
        return contexts, continuations

    def _prompt_pass(
        self, token_lists: list[list[int]], features: list[torch.Tensor]
    ) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """The prompts, left-padded, through the model once: (cache, padding mask, last log-probabilities)."""
        length = max(len(ids) for ids in token_lists)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (length - len(ids)) + ids for ids in token_lists])
        attention_mask = torch.tensor([[0] * (length - len(ids)) + [1] * len(ids) for ids in token_lists])
        num_images = max(len(f) for f in features)
        # Unused image slots only need the right shape: the image attention mask never selects them.
        slots = torch.stack([torch.cat([f, f[:1].expand(num_images - len(f), -1, -1)]) for f in features])
        mask = image_attention_mask(input_ids, self.tokens.image, self.tokens.eos, num_images)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            image_attention_mask=mask.to(self.device),
            use_cache=True,
            logits_to_keep=1,
            **{self._embeddings_name: slots.flatten(0, 1)},
        )
        return out.cache, attention_mask.to(self.device), out.logits[:, -1].float().log_softmax(dim=-1)

    def _continue(
        self,
        cache: Any,
        prompt_mask: torch.Tensor,
        rows: list[tuple[int, list[int], int]],
        features: list[torch.Tensor],
    ) -> torch.Tensor:
        """Log-probabilities (rows, width, vocab) after each fed token of ``rows`` (prompt, full ids, cached).

        A row feeds ``full[cached:-1]``; its tokens cross-attend to the image that the full sequence's
        mask gives them, so that image's features are the row's only image slot.
        """
        width = max(len(full) - cached - 1 for _, full, cached in rows)
        pad = self.tokenizer.pad_token_id
        fed = [full[cached:-1] for _, full, cached in rows]
        tokens = torch.tensor([ids + [pad] * (width - len(ids)) for ids in fed])
        lengths = torch.tensor([len(ids) for ids in fed])
        token_mask = (torch.arange(width) < lengths[:, None]).long()
        # Which image each fed token attends to, all rows at once: the rows' sequences right-aligned (the
        # padding is neither an image nor an EOS, so it changes nothing), fed tokens in their last columns.
        length = max(len(full) - 1 for _, full, _ in rows)
        sequences = torch.tensor([[pad] * (length - len(full) + 1) + full[:-1] for _, full, _ in rows])
        num_images = max(len(features[i]) for i, _, _ in rows)
        one_hot = image_attention_mask(sequences, self.tokens.image, self.tokens.eos, num_images)
        columns = (length - lengths[:, None] + torch.arange(width)).clamp(max=length - 1)
        one_hot = one_hot.gather(1, columns[..., None].expand(-1, -1, num_images))  # (rows, width, images)
        attends = one_hot.any(dim=-1) & token_mask.bool()
        image = one_hot.argmax(dim=-1)
        first = torch.where(attends, image, num_images).min(dim=1).values
        last = torch.where(attends, image, -1).max(dim=1).values
        if bool(((last >= 0) & (first != last)).any()):  # an <image> inside a candidate: ranking cannot score it
            raise FsevalError("A ranking candidate contains an image placeholder.", hint="Remove it.")
        # Each row's one image slot: the image its tokens attend to (any image of its prompt if none).
        offsets = torch.tensor([0, *itertools.accumulate(len(f) for f in features)][:-1])
        prompt_of_row = torch.tensor([i for i, _, _ in rows])
        images, image_of_row = (offsets[prompt_of_row] + last.clamp(min=0)).unique(return_inverse=True)
        distinct = torch.cat(features).index_select(0, images.to(self.device))
        image_of_row = image_of_row.to(self.device)
        slots = distinct.index_select(0, image_of_row)
        slot_mask = attends[..., None].long()
        index = torch.tensor([i for i, _, _ in rows], device=self.device)
        with self._projected_once(slots, distinct, image_of_row):
            out = self.model(
                input_ids=tokens.to(self.device),
                attention_mask=torch.cat([prompt_mask[index], token_mask.to(self.device)], dim=1),
                cache=gather_rows(cache, index, width),
                image_attention_mask=slot_mask.to(self.device),
                use_cache=True,
                **{self._embeddings_name: slots},
            )
        return out.logits.float().log_softmax(dim=-1)

    @contextmanager
    def _projected_once(
        self, slots: torch.Tensor, distinct: torch.Tensor, image_of_row: torch.Tensor
    ) -> Iterator[None]:
        """Cross-attention keys and values of each distinct image, computed once for all the rows that read it.

        The candidate rows' image slots (``slots``) repeat their prompts' few images (ImageNet: 1000 rows,
        one image each prompt); transformers would project every row's copy to keys and values in every
        cross-attention layer. Each projection of ``slots`` is computed on ``distinct`` and gathered.
        """
        if not self.settings.reuse_image_states:
            yield
            return
        with patched(key_value_projections(self.model), once_per_image(slots, distinct, image_of_row)):
            yield

    @property
    def _embeddings_name(self) -> str:
        return "perceiver_embeddings" if self.model.config.use_resampler else "image_encoder_embeddings"

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, in one batched call of the (Rust) tokenizer."""
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _resampled(self, states: torch.Tensor) -> torch.Tensor:
        """What the cross-attention reads for one prompt's encoder outputs: (images, tokens, width)."""
        return self.model.model.perceiver_resampler(states) if self.model.config.use_resampler else states

    def describe(self) -> dict[str, Any]:
        return {
            "family": "idefics",
            "name": self.name,
            "end_of_chunk": self.end_of_chunk,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.device),
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            **self.provenance,
        }


def first_token_id(tokenizer: Any, text: str) -> int:
    """The id a text starts with when it follows other text (no SentencePiece word-start marker)."""
    if text in tokenizer.get_vocab():
        return int(tokenizer.convert_tokens_to_ids(text))
    before = tokenizer("a", add_special_tokens=False)["input_ids"]
    after = tokenizer("a" + text, add_special_tokens=False)["input_ids"]
    if after[: len(before)] != before or len(after) == len(before):
        raise ValueError(f"cannot isolate the first token of {text!r}")
    return int(after[len(before)])
