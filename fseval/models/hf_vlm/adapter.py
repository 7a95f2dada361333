"""Open vision-language models (Idefics2/3, SmolVLM, Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision) behind fseval's adapter.

The model is transformers' ``AutoModelForImageTextToText`` with its ``AutoProcessor``; the prompt
styles are described in ``prompts.py``, the inputs and the media cache in ``inputs.py``, generation
in ``generation.py``, ranking in ``ranking.py``.

Generation is greedy or beam search with the task's settings, not the checkpoint's
``generation_config`` (instruction-tuned releases ship sampling settings and a repetition penalty).
``decoding_loop="fseval"`` (the default) runs it in fseval's decoding loop
(``fseval/models/engine/decoding.py``, via ``generation.py``: each prompt run once, the in-place
cache, no host-device sync per step, the stop flag read ``stop_lag`` steps late), which picks the
tokens ``generate`` picks for every architecture of the family, Qwen2-VL's multimodal positions
included; ``"transformers"`` calls ``generate``. It stops at the end of a demo: a newline in the
interleaved style, the end of the assistant's turn in the chat style, and the checkpoint's
end-of-sequence tokens in both. Special tokens that are not stop tokens (image placeholders and
their markers, turn starts) are never generated: an image token in an answer would only break the
next step's inputs.

Prompts are batched with left padding; position ids follow each row's real tokens (as ``generate``
computes them, including Qwen2-VL's multimodal positions), so a prompt's outputs do not depend on
what it is batched with. Video: a media item with several frames is a clip, given to Qwen2-VL,
Qwen2.5-VL and LLaVA-OneVision through their processors' video input (``clips.py``) and refused by
the other architectures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import transformers

from fseval.errors import FsevalError
from fseval.models.base import ModelAdapter, refuse_video
from fseval.models.engine import decoding
from fseval.models.hf_vlm import generation
from fseval.models.hf_vlm.clips import is_clip
from fseval.models.hf_vlm.inputs import ModelInputs
from fseval.models.hf_vlm.prompts import ChatFormat, chat_format, to_interleaved, to_messages
from fseval.models.hf_vlm.ranking import prompt_pass, rank
from fseval.models.hf_vlm.settings import VIDEO, HfVlmSettings
from fseval.types import GenerationSettings, Media, Prompt

NEWLINE = "\n"


class HfVlmAdapter(ModelAdapter):
    """Batched generation and ranking with an ``AutoModelForImageTextToText`` model and its processor."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        settings: HfVlmSettings,
        *,
        arch: str,
        name: str = "hf_vlm",
        eos_token_ids: Sequence[int] = (),
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.model, self.processor, self.tokenizer = model.eval(), processor, processor.tokenizer
        self.settings, self.arch, self.name = settings, arch, name
        self.prompt_style = settings.prompt_style or "interleaved"
        self.tokenizer.padding_side = "left"  # generation continues from the last position of every row
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.inputs = ModelInputs(model, processor, arch, settings)
        self.provenance = provenance or {}
        self.bos = self._added_bos()
        self.chat = self._chat_format() if self.prompt_style == "chat" else ChatFormat("", "")
        self.stop_ids = self._stop_ids(eos_token_ids)
        self.banned_ids = sorted(self._special_ids() - self.stop_ids)

    # -- what the model is given ---------------------------------------------------------------
    def _added_bos(self) -> str:
        """The BOS text the tokenizer would prepend by default ("" if none): model texts carry it themselves."""
        bos = self.tokenizer.bos_token_id
        ids = self.tokenizer("a")["input_ids"]
        return str(self.tokenizer.bos_token) if bos is not None and ids[:1] == [bos] else ""

    def _chat_format(self) -> ChatFormat:
        if not getattr(self.processor, "chat_template", None):
            raise FsevalError(
                f"{self.name} has no chat template, so prompt_style=chat cannot be used.",
                hint="Use --model-arg prompt_style=interleaved.",
            )
        return chat_format(lambda m: self._render(m, True), lambda m: self._render(m, False))

    def _render(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        text = self.processor.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)
        return str(text)

    def model_text(self, text: str, videos: Sequence[bool] = ()) -> str:
        """An fseval prompt text as the processor receives it (recorded in samples.jsonl as model_prompt).

        ``videos`` says which of its media markers are clips. The processor then expands each image
        or video placeholder into the image's or clip's tokens.
        """
        if self.prompt_style == "chat":
            rendered = self._render(to_messages(text, videos), True)
        else:
            video = self.inputs.video.placeholder if self.inputs.video is not None else ""
            rendered = to_interleaved(text, self.inputs.placeholder, videos, video)
        return rendered if not self.bos or rendered.startswith(self.bos) else self.bos + rendered

    def texts(self, prompts: Sequence[Prompt]) -> list[str]:
        """The prompts' model-side texts; a clip is refused by an architecture that takes no video."""
        if self.inputs.video is None:
            refuse_video(
                prompts,
                f"{self.name} ({self.arch})",
                hint=f"Video tasks need a model with a frame axis: the openflamingo family, or an hf_vlm model "
                f"of architecture {', '.join(VIDEO)} (docs/modern_vlms.md).",
            )
        return [self.model_text(prompt.text, [is_clip(media) for media in prompt.media]) for prompt in prompts]

    def batch(self, prompts: Sequence[Prompt], texts: Sequence[str] | None = None) -> dict[str, Any]:
        """The model's inputs for ``prompts`` (their ``texts`` where already made): images as their cached
        encodings with ``media_cache``, else as pixels."""
        return self.inputs.batch(self.texts(prompts) if texts is None else texts, prompts, self.settings.media_cache)

    # -- tokens ----------------------------------------------------------------------------------
    def _stop_ids(self, eos_token_ids: Sequence[int]) -> set[int]:
        """End of sequence, end of turn, and (interleaved) every token whose text holds a newline."""
        stops = {int(i) for i in eos_token_ids}
        if self.tokenizer.eos_token_id is not None:
            stops.add(int(self.tokenizer.eos_token_id))
        if self.chat.end_of_turn:
            ids = self.tokenizer(self.chat.end_of_turn, add_special_tokens=False)["input_ids"]
            stops.update(ids[:1])
        if self.prompt_style == "interleaved":
            vocabulary = range(len(self.tokenizer))
            texts = self.tokenizer.batch_decode([[i] for i in vocabulary], clean_up_tokenization_spaces=False)
            stops.update(i for i, text in zip(vocabulary, texts, strict=True) if NEWLINE in text)
        return stops

    def _special_ids(self) -> set[int]:
        special = {i for i, token in self.tokenizer.added_tokens_decoder.items() if token.special}
        return special | {int(i) for i in self.tokenizer.all_special_ids}

    def _decode(self, rows: list[list[int]]) -> list[str]:
        """Rows ending at their first stop token (``generate_ids``) as text: the chat style drops the stop
        token; the interleaved style decodes it (``".\n"`` is one token) and keeps the text before the newline."""
        kept = [
            row if self.prompt_style == "interleaved" or not row or row[-1] not in self.stop_ids else row[:-1]
            for row in rows
        ]
        texts = self.tokenizer.batch_decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return [text.split(NEWLINE, 1)[0] if self.prompt_style == "interleaved" else text for text in texts]

    # -- media -----------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def prepare_media(self, items: Sequence[Media]) -> None:
        """Hash upcoming images and clips (thread-safe; for prefetching): the cache is keyed by their pixels."""
        if self.settings.media_cache:
            for item in items:
                self.inputs.features.key(item)

    def clear_media_cache(self) -> None:
        self.inputs.features.clear()

    # -- generation ------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        return self._decode(self.generate_ids(prompts, settings))

    @torch.inference_mode()
    def generate_ids(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[list[int]]:
        """The generated token ids of each prompt, up to and including the first stop token."""
        own_loop = self.settings.decoding_loop == "fseval" and not decoding.unsupported_settings(
            self.model.generation_config
        )
        clips = [media for prompt in prompts for media in prompt.media if is_clip(media)]
        if not own_loop and len(prompts) > 1 and settings.num_beams > 1 and self.inputs.unstackable(clips):
            # generate cannot expand these clips' encodings for beam search in a batch (clips.stack_clips)
            return [row for prompt in prompts for row in self.generate_ids([prompt], settings)]
        batch = self.batch(prompts)
        search = self.search(settings)
        if own_loop:
            new = generation.generate_own_loop(self.model, batch, search, self.settings.stop_lag)
        else:
            new = generation.generate_transformers(self.model, batch, search)
        return [self._cut(row) for row in new.tolist()]

    def search(self, settings: GenerationSettings) -> decoding.Search:
        """What to generate: the task's settings, stopping at any stop token, never a banned special token."""
        return decoding.Search(
            max_new_tokens=settings.max_new_tokens,
            eos=tuple(sorted(self.stop_ids)),
            pad=self.tokenizer.pad_token_id,
            min_new_tokens=settings.min_new_tokens,
            num_beams=settings.num_beams,
            length_penalty=settings.length_penalty,
            banned=tuple(self.banned_ids),
        )

    def _cut(self, row: list[int]) -> list[int]:
        """A generated row up to and including its first stop token (what follows is padding)."""
        end = next((i for i, token in enumerate(row) if token in self.stop_ids), len(row) - 1)
        return row[: end + 1]

    @torch.inference_mode()
    def next_token_logits(self, prompts: Sequence[Prompt]) -> torch.Tensor:
        """The logits (prompts, vocabulary) of the token after each prompt, in one left-padded forward pass."""
        batch = self.batch(prompts)
        return prompt_pass(self, batch, use_cache=False)[0].logits[:, -1].float()

    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        return rank(self, prompts, candidates)

    def describe(self) -> dict[str, Any]:
        return {
            "family": "hf_vlm",
            "name": self.name,
            "arch": self.arch,
            "prompt_style": self.prompt_style,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.device),
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            **self.provenance,
        }
