"""Tiny random checkpoints of each architecture the hf_vlm family runs, written without any download.

Each directory is what ``save_pretrained`` writes for a released checkpoint of the architecture:
``config.json`` and weights, and the processor's files (tokenizer with the release's special
tokens, image processor, chat template), plus an fseval model card, so that ``fseval run --model
DIR`` finds the family. Sizes are tiny (32-wide layers, 32-pixel image tiles), so a model loads and
runs on a CPU in milliseconds. Tokenizers are real ones over a small vocabulary: byte-level BPE
(Qwen2, SmolLM, as the Qwen2-VL, LLaVA-OneVision and SmolVLM releases) or a byte-fallback
SentencePiece-style BPE that adds a BOS (Mistral, as Idefics2). The chat templates have the
released templates' structure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForImageTextToText

from fseval.models.card import CARD_NAME
from fseval.models.engine.tokenization import tiny_byte_tokenizer

# The released templates' structure (Idefics2's; SmolVLM-Instruct's; Qwen2-VL-Instruct's; LLaVA-OneVision's).
IDEFICS_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}{% if message['content'][0]['type'] == 'image' %}"
    "{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}"
    "{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
SMOLVLM_TEMPLATE = "<|im_start|>" + IDEFICS_TEMPLATE
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != "
    "'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>"
    "{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: "
    "{% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% endif %}"
)
LLAVA_ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}{{'<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN_TOKENS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
IDEFICS3_TOKENS = [
    "<|im_start|>",
    "<|im_end|>",
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
]
TEXT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    # At the default 0.02 a tiny random model is near-uniform and blind to its images; 0.2 gives peaked
    # logits that differ between images, so greedy decoding is stable and the tests are sharp.
    "initializer_range": 0.2,
}
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
TILE, PATCH = 32, 8  # image tiles of 32 pixels, patches of 8: 16 patches a tile


def bytelevel_tokenizer(specials: list[str], **tokens: str) -> Any:
    """A Qwen2-style byte-level BPE tokenizer: ``<|endoftext|>``, the 256 byte symbols, a few merges, ``specials``."""
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {"<|endoftext|>": 0}
    vocab.update({symbol: 1 + byte for byte, symbol in bytes_to_unicode().items()})
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "a"), ("Ġ", "s")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer_class: Any = Qwen2Tokenizer  # its merges are typed as strings; the BPE model takes pairs
    tokenizer = tokenizer_class(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_special_tokens(dict[str, Any](tokens))
    return tokenizer


def sentencepiece_tokenizer(specials: list[str]) -> Any:
    """A Mistral-style tokenizer (``<unk> <s> </s>``, byte fallback, ``▁`` word starts) that adds a BOS."""
    return tiny_byte_tokenizer(specials, add_bos_token=True)


def idefics2() -> tuple[Any, Any]:
    """Idefics2: SigLIP-style tower, perceiver resampler (4 latents an image), Mistral LM."""
    from transformers import Idefics2Config, Idefics2ImageProcessor, Idefics2Processor

    tokenizer = sentencepiece_tokenizer(["<fake_token_around_image>", "<image>", "<end_of_utterance>"])
    config = Idefics2Config(
        text_config={**TEXT, "model_type": "mistral", "vocab_size": len(tokenizer), "sliding_window": None},
        vision_config={**VISION, "image_size": TILE, "patch_size": PATCH, "initializer_range": 0.2},
        perceiver_config={
            "hidden_size": TEXT["hidden_size"],
            "resampler_n_latents": 4,
            "resampler_depth": 1,
            "resampler_n_heads": 2,
            "resampler_head_dim": 8,
            "num_key_value_heads": 1,
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    image_processor = Idefics2ImageProcessor(size={"shortest_edge": TILE // 2, "longest_edge": TILE})
    return config, Idefics2Processor(image_processor, tokenizer, image_seq_len=4, chat_template=IDEFICS_TEMPLATE)


def idefics3() -> tuple[Any, Any]:
    """Idefics3 (SmolVLM): images split into tiles plus a global view, pixel-shuffled to 4 tokens a tile.

    SmolVLM2's own architecture (``smolvlm``) is not built here: its processor needs ``num2words``.
    """
    from transformers import Idefics3Config, Idefics3ImageProcessor, Idefics3Processor

    tokenizer = bytelevel_tokenizer(
        IDEFICS3_TOKENS, bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<|im_end|>"
    )
    config = Idefics3Config(
        text_config={**TEXT, "model_type": "llama", "vocab_size": len(tokenizer), "pad_token_id": 0},
        vision_config={**VISION, "image_size": TILE, "patch_size": PATCH, "initializer_range": 0.2},
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    image_processor = Idefics3ImageProcessor(size={"longest_edge": 2 * TILE}, max_image_size={"longest_edge": TILE})
    return config, Idefics3Processor(image_processor, tokenizer, image_seq_len=4, chat_template=SMOLVLM_TEMPLATE)


def qwen2_vl(model_type: str = "qwen2_vl") -> tuple[Any, Any]:
    """Qwen2-VL / Qwen2.5-VL: native-resolution tower (4-pixel patches merged 2x2), M-RoPE Qwen2 LM."""
    from transformers import (
        AutoConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = bytelevel_tokenizer(QWEN_TOKENS, eos_token="<|im_end|>")
    ids = tokenizer.convert_tokens_to_ids
    vision: dict[str, Any] = {"depth": 2, "hidden_size": 32, "num_heads": 2, "patch_size": 4, "spatial_merge_size": 2}
    vision |= {"temporal_patch_size": 2, "initializer_range": 0.2}
    vision |= {"embed_dim": 32} if model_type == "qwen2_vl" else {"intermediate_size": 64, "out_hidden_size": 32}
    vision |= {"window_size": 16, "fullatt_block_indexes": [1]} if model_type == "qwen2_5_vl" else {}
    rope = {"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0}
    special = {"bos_token_id": 0, "eos_token_id": ids("<|im_end|>"), "pad_token_id": 0}
    config = AutoConfig.for_model(
        model_type,
        text_config={**TEXT, "vocab_size": len(tokenizer), "rope_parameters": rope, **special},
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    sizes: dict[str, Any] = {
        "patch_size": 4,
        "merge_size": 2,
        "temporal_patch_size": 2,
        "min_pixels": 8 * 8,
        "max_pixels": 32 * 32,
    }
    processor = Qwen2VLProcessor if model_type == "qwen2_vl" else Qwen2_5_VLProcessor
    return config, processor(
        image_processor=Qwen2VLImageProcessor(**sizes),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**sizes),
        chat_template=QWEN2_VL_TEMPLATE,
    )


def llava_onevision() -> tuple[Any, Any]:
    """LLaVA-OneVision: SigLIP tower, AnyRes tiling of a lone image (a base view alone in multi-image prompts)."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tokenizer = bytelevel_tokenizer(["<|im_start|>", "<|im_end|>", "<image>", "<video>"], eos_token="<|im_end|>")
    pinpoints = [[TILE, TILE], [TILE, 2 * TILE], [2 * TILE, TILE], [2 * TILE, 2 * TILE]]
    config = LlavaOnevisionConfig(
        text_config={**TEXT, "model_type": "qwen2", "vocab_size": len(tokenizer)},
        vision_config={**VISION, "model_type": "siglip_vision_model", "image_size": TILE, "patch_size": PATCH},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    size = {"height": TILE, "width": TILE}
    return config, LlavaOnevisionProcessor(
        LlavaOnevisionImageProcessor(size=size, crop_size=size, image_grid_pinpoints=pinpoints),
        tokenizer,
        LlavaOnevisionVideoProcessor(size=size),
        num_image_tokens=(TILE // PATCH) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_ONEVISION_TEMPLATE,
    )


BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "idefics2": idefics2,
    "idefics3": idefics3,
    "qwen2_vl": qwen2_vl,
    "qwen2_5_vl": lambda: qwen2_vl("qwen2_5_vl"),
    "llava_onevision": llava_onevision,
}


def make_tiny_hf_vlm(directory: str | Path, arch: str = "idefics2", seed: int = 0) -> Path:
    """Write a tiny random ``arch`` model directory (one of ``BUILDERS``) that ``hf_vlm.load`` reads offline."""
    if arch not in BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; one of {', '.join(BUILDERS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config, processor = BUILDERS[arch]()
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config).eval()
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    card = {"family": "hf_vlm", "args": {"path": "."}, "paths": ["path"], "arch": arch, "seed": seed}
    (directory / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    return directory
