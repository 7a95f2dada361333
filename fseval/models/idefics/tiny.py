"""A tiny random IDEFICS checkpoint for tests and CI, written without any download.

The layout is what ``save_pretrained`` writes for ``HuggingFaceM4/idefics-9b``: ``config.json`` and
``model.safetensors`` (``IdeficsForVisionText2Text``), and the ``IdeficsProcessor`` files (a Llama
tokenizer and ``IdeficsImageProcessor``). The tokenizer is a real ``LlamaTokenizer`` (byte-fallback
BPE, Metaspace) over a character vocabulary, so newlines and any text tokenise as in the released
models, and it carries IDEFICS's added tokens in their released order.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import (
    IdeficsConfig,
    IdeficsForVisionText2Text,
    IdeficsImageProcessor,
    IdeficsProcessor,
    LlamaTokenizer,
)

from fseval.models.card import CARD_NAME
from fseval.models.engine.tokenization import tiny_byte_tokenizer
from fseval.models.idefics.inputs import END_OF_UTTERANCE, FAKE_TOKEN
from fseval.types import IMAGE_TOKEN

TINY_IMAGE_SIZE = 32


def tiny_tokenizer() -> LlamaTokenizer:
    """The byte-level test tokenizer, then IDEFICS's added tokens; IDEFICS pads with <unk> (pad_token_id 0)."""
    tokenizer: LlamaTokenizer = tiny_byte_tokenizer([FAKE_TOKEN, IMAGE_TOKEN, END_OF_UTTERANCE])
    return tokenizer


def tiny_config(vocab_size: int, additional_vocab_size: int) -> IdeficsConfig:
    """Two decoder layers with cross-attention before each, a 2-block vision tower and perceiver."""
    return IdeficsConfig(
        vocab_size=vocab_size,
        additional_vocab_size=additional_vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        cross_layer_interval=1,
        max_position_embeddings=512,
        # At the default 0.02 a tiny random model is near-uniform and blind to its images; 0.2 gives
        # peaked logits that differ between images, so greedy decoding is stable and tests are sharp.
        initializer_range=0.2,
        # Released checkpoints train their gates from zero; open gates make the images matter here.
        alpha_initializer="ones",
        use_resampler=True,
        vision_config={
            "embed_dim": 32,
            "image_size": TINY_IMAGE_SIZE,
            "patch_size": 8,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
        },
        perceiver_config={
            "use_resampler": True,
            "resampler_n_latents": 4,
            "resampler_depth": 1,
            "resampler_n_heads": 2,
            "resampler_head_dim": 8,
        },
    )


def make_tiny_idefics(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random IDEFICS model directory that ``fseval.models.idefics.load`` reads offline.

    It also holds an fseval model card, so ``fseval run --model DIR`` finds the family.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer()
    base_vocab = tokenizer.get_vocab()[FAKE_TOKEN]  # the first added token
    torch.manual_seed(seed)
    config = tiny_config(vocab_size=base_vocab, additional_vocab_size=len(tokenizer) - base_vocab)
    model = IdeficsForVisionText2Text(config).eval()
    model.save_pretrained(directory)
    IdeficsProcessor(IdeficsImageProcessor(image_size=TINY_IMAGE_SIZE), tokenizer).save_pretrained(directory)
    card = {"family": "idefics", "args": {"path": "."}, "paths": ["path"], "seed": seed}
    (directory / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    return directory
