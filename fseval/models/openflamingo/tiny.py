"""Tiny random OpenFlamingo models written in the released layout, for tests and CI.

``make_tiny(directory)`` writes what a user of a real model has on disk, only small:

    fseval-model.json            the fseval model card (family + arguments, paths relative)
    vision/fseval-tiny-vit.json  an open_clip model config (ViT, 32 px, 8 px patches)
    vision/fseval-tiny-vit.safetensors
    lm/                          a Hugging Face LM + tokenizer saved with save_pretrained
    checkpoint.pt                the trainable Flamingo weights under OpenFlamingo's key names

The tokenizer is a byte-level BPE trained here on a small English corpus, so any text round-trips.
The gates are set away from 0 so that images change the outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fseval.models.card import CARD_NAME, ModelCard
from fseval.models.openflamingo.settings import TINY_LM_FAMILIES, OpenFlamingoSettings

VISION_NAME = "fseval-tiny-vit"

TINY_VISION_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 48, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}

_CORPUS = """\
Question:What color is the cat? Short answer:black
Question:How many people are in the picture? Short answer:two
Question:Is this a kitchen? Short answer:yes
Question:What is the man holding? Short answer:a tennis racket
Question:Where is the dog sitting? Short answer:on the couch
Question:What sport is being played? Short answer:baseball
Question:Is it raining? Short answer:no
Question:What is written on the sign? Short answer:stop
Output:A man riding a wave on top of a surfboard.
Output:A group of people standing around a table with food.
Output:Two dogs playing with a frisbee in the grass.
Output:A red bus driving down a city street.
Output:A plate of pizza with cheese and tomatoes.
Output:A woman sitting on a bench next to a bicycle.
Output:golden retriever
Output:tabby cat
is an image with: 'look at this' written on it. Is it hateful? Answer:no
The quick brown fox jumps over the lazy dog. The weather is nice today, and the children are
playing in the park while their parents talk about the news, the market and the football game.
Which animal is this? What time of day is it? Why is the boy smiling? Who is wearing a hat?
zero one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 10 100 2024
"""

_TINY_LM: dict[str, tuple[str, dict[str, Any]]] = {
    "gpt_neox": (
        "GPTNeoXConfig",
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 128,
            "max_position_embeddings": 512,
            "rotary_pct": 0.25,
            "tie_word_embeddings": False,
        },
    ),
    "mpt": (
        "MptConfig",
        {"d_model": 64, "n_layers": 2, "n_heads": 4, "expansion_ratio": 2, "max_seq_len": 512},
    ),
    "mosaic_gpt": (
        "MosaicGPTConfig",
        {"d_model": 64, "n_layers": 2, "n_heads": 4, "mlp_ratio": 2, "max_seq_len": 512},
    ),
    "llama": (
        "LlamaConfig",
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "intermediate_size": 128,
            "max_position_embeddings": 512,
        },
    ),
    "opt": (
        "OPTConfig",
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "ffn_dim": 128,
            "word_embed_proj_dim": 64,
            "max_position_embeddings": 512,
        },
    ),
    "gptj": ("GPTJConfig", {"n_embd": 64, "n_layer": 2, "n_head": 4, "rotary_dim": 8, "n_positions": 512}),
    "gpt2": ("GPT2Config", {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512}),
}
LM_FAMILIES = TINY_LM_FAMILIES  # settings.py declares them for make-tiny; _TINY_LM configures each


def build_tokenizer() -> Any:
    """A byte-level BPE tokenizer (GPT-NeoX style: ``<|endoftext|>``, no pad token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def tiny_lm(lm_family: str, vocab_size: int, token_id: int) -> torch.nn.Module:
    """A randomly initialised 2-layer LM of the family (uses the global torch RNG)."""
    import transformers

    from fseval.models.openflamingo import mosaic_gpt

    if lm_family not in _TINY_LM:
        raise ValueError(f"unknown lm_family {lm_family!r}; known: {', '.join(_TINY_LM)}")
    config_name, fields = _TINY_LM[lm_family]
    config_class = getattr(mosaic_gpt if lm_family == "mosaic_gpt" else transformers, config_name)
    config = config_class(vocab_size=vocab_size, bos_token_id=token_id, eos_token_id=token_id, **fields)
    if lm_family == "mosaic_gpt":
        model = mosaic_gpt.MosaicGPTForCausalLM(config)
    else:
        model = transformers.AutoModelForCausalLM.from_config(config)
    # Default inits (std 0.02) give a 64-wide model near-uniform logits, where greedy decoding
    # flips on rounding noise; larger weights make its choices clear-cut and tests stable.
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim >= 2:
                param.normal_(0.0, 0.3)
    return model


def trainable_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What OpenFlamingo's ``filter_state_dict_to_trainable`` keeps: resampler, cross-attention, embeddings."""
    from fseval.models.openflamingo.loader import rename_lm_keys

    embedding = model.lang_encoder.get_input_embeddings().weight  # type: ignore[operator,union-attr]
    keep = {name for name, p in model.named_parameters() if p is embedding}
    model_type = getattr(model.lang_encoder.config, "model_type", "")  # type: ignore[union-attr]
    return {
        key: value.clone()
        for key, value in rename_lm_keys(model.state_dict(), model_type, to_legacy=True).items()
        if not key.startswith("vision_encoder.")
        and (key.startswith("perceiver.") or ".gated_cross_attn_layer." in key or "embed" in key or key in keep)
    }


def make_tiny(
    directory: str | Path, seed: int = 0, lm_family: str = "gpt_neox", cross_attn_every_n_layers: int = 1
) -> Path:
    """Write a tiny random OpenFlamingo model directory; the same seed gives the same files."""
    import open_clip
    from safetensors.torch import save_file

    from fseval.models.openflamingo.loader import build_flamingo

    root = Path(directory)
    (root / "vision").mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = build_tokenizer()
        tokenizer.save_pretrained(root / "lm")
        lm = tiny_lm(lm_family, len(tokenizer), tokenizer.eos_token_id)
        lm.save_pretrained(root / "lm")  # type: ignore[operator]

        vision_config = root / "vision" / f"{VISION_NAME}.json"
        vision_config.write_text(json.dumps(TINY_VISION_CONFIG, indent=2) + "\n")
        open_clip.add_model_config(vision_config)
        clip = open_clip.create_model(VISION_NAME, pretrained=None)
        save_file(
            {k: v.contiguous() for k, v in clip.state_dict().items()},
            root / "vision" / f"{VISION_NAME}.safetensors",
        )

        arguments = {
            "vision_encoder": VISION_NAME,
            "vision_pretrained": f"vision/{VISION_NAME}.safetensors",
            "vision_config": f"vision/{VISION_NAME}.json",
            "lm": "lm",
            "tokenizer": "lm",
            "cross_attn_every_n_layers": cross_attn_every_n_layers,
        }
        card_arguments = ModelCard(family="openflamingo", args=arguments, paths=list(_PATH_ARGUMENTS)).arguments(root)
        model, _, _ = build_flamingo(OpenFlamingoSettings.model_validate(card_arguments), torch.float32)
        for layer in model.layers:
            if layer.gated_cross_attn_layer is not None:
                torch.nn.init.uniform_(layer.gated_cross_attn_layer.attn_gate, 0.5, 1.0)  # type: ignore[union-attr,arg-type]
                torch.nn.init.uniform_(layer.gated_cross_attn_layer.ff_gate, 0.5, 1.0)  # type: ignore[union-attr,arg-type]
        torch.save(trainable_state_dict(model), root / "checkpoint.pt")

    card = {
        "family": "openflamingo",
        "name": f"openflamingo-tiny-{lm_family}",
        "description": f"Tiny random OpenFlamingo ({lm_family}), fseval make_tiny(seed={seed}); tests only.",
        # The registry's card format: "args" for load(), "paths" = the args relative to this directory.
        "args": {**arguments, "checkpoint": "checkpoint.pt"},
        "paths": list(_PATH_ARGUMENTS),
    }
    (root / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    return root


_PATH_ARGUMENTS = ("vision_pretrained", "vision_config", "lm", "tokenizer", "checkpoint")


def load_model_dir(
    path: str | Path, device: str = "cpu", precision: str = "fp32", compat: str | None = None, **overrides: Any
) -> Any:
    """Load the model described by ``<path>/fseval-model.json``; ``overrides`` replace card arguments."""
    from fseval.models.registry import load_model

    return load_model(str(path), overrides, device, precision, compat)
