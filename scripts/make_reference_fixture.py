#!/usr/bin/env python3
"""Record OpenFlamingo's own outputs on the stack it was released on, as a fixture fseval is tested against.

fseval runs on today's libraries; OpenFlamingo's checkpoints were trained and evaluated on
open_clip <= 2.20 and transformers ~4.33. A reference that runs in fseval's own environment
cannot see what changed between the two, so this script runs in a throwaway venv with the
release-era pins and writes a small fixture that the normal test suite compares against (see
docs/fidelity.md). Nothing here imports fseval.

    python3.11 -m venv /tmp/of-ref && . /tmp/of-ref/bin/activate
    pip install torch==2.14.1 torchvision==0.29.1 transformers==4.33.3 open_clip_torch==2.20.0 \
        pillow==10.0.0 einops einops-exts 'numpy<2' sentencepiece protobuf
    pip install --no-deps open-flamingo==2.0.1
    python scripts/make_reference_fixture.py tests/fixtures/release_stack

(torch is not pinned: the release-era libraries run on today's torch, and torchvision passes PIL
images to Pillow, which is pinned to its July 2023 release; the fixture records the versions.) The script

1. writes a few small photo-like images once (``images/``; kept if present, so the committed
   bytes stay the inputs);
2. for each LM family open_flamingo 2.0.1 runs on transformers 4.33 (GPT-NeoX, MPT, LLaMA, OPT),
   writes a tiny model in the released layout: a Hugging Face LM + GPT-NeoX-style tokenizer
   saved by transformers 4.33, an open_clip vision tower saved by open_clip 2.20, and the
   trainable weights as ``checkpoint.pt`` under OpenFlamingo's key names. Weights are drawn on a
   coarse power-of-two grid (exact in fp16/bf16/fp32, and a tenth the size once compressed);
3. loads each model back the way ``open_flamingo/eval/models/open_flamingo.py`` does
   (``create_model_and_transforms``, then the checkpoint with ``strict=False``) and records the
   pixel tensors, vision tokens, token ids, logits and greedy / 3-beam generations of a batch of
   0-, 2- and 4-shot prompts, plus decoded text for chosen token ids;
4. does the same for a tiny IDEFICS (``IdeficsForVisionText2Text`` and ``IdeficsProcessor`` of
   transformers 4.33, the version IDEFICS was released on), with a sentencepiece LLaMA tokenizer.

Outputs: ``images/`` and ``reference.tar.xz``, which holds the model folders (``vision/``,
``<family>/lm``, ``<family>/checkpoint.pt``, ``idefics/``) and ``reference.pt``: a dict of tensors, lists and
strings that ``torch.load(..., weights_only=True)`` reads.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import math
import platform
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

VISION_NAME = "fseval-ref-vit"
VISION_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}
# Each family at the model-card settings of its released OpenFlamingo model where there is one
# (3B: every layer, 4B: every 2nd), with vocabularies padded past the tokenizer as MPT's and
# RedPajama's are (OpenFlamingo's resize then shrinks them, so no embedding row is random).
FAMILIES: dict[str, tuple[str, dict[str, Any], int]] = {
    "gpt_neox": (
        "GPTNeoXConfig",
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 128,
            "rotary_pct": 0.25,
            "max_position_embeddings": 512,
            "tie_word_embeddings": False,
            "use_parallel_residual": True,
        },
        2,
    ),
    "mpt": (
        "MptConfig",
        {"d_model": 64, "n_layers": 2, "n_heads": 4, "expansion_ratio": 2, "max_seq_len": 512},
        1,
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
        1,
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
        2,
    ),
}
# GPT-J is in the factory's table, but on transformers 4.33 its blocks get ``hidden_states=`` by
# keyword and OpenFlamingo's FlamingoLayer.forward(lang_x, ...) fails: the reference cannot run it.
ARCHIVE = "reference.tar.xz"
LM_VOCAB_SIZE = 416  # the tokenizer's 400 + 3 Flamingo tokens, padded to a multiple of 32

CORPUS = """\
Question:What color is the bus? Short answer:red
Question:How many people are on the street? Short answer:two
Question:Is this a kitchen? Short answer:yes
Question:What is the man holding? Short answer:an umbrella
Question:Where is the dog? Short answer:on the grass
Question:What is in the sky? Short answer:the sun
Question:Is it raining? Short answer:no
Question:What shape is the sign? Short answer:round
Output:A red bus driving down a city street.
Output:A man with an umbrella walking in the rain.
Output:Two dogs playing on the green grass in a park.
Output:A house with a blue roof under a clear sky.
Output:A bowl of fruit on a wooden table.
It's a dog's ball, isn't it? They're here, we've seen it, I'm sure.
red , blue . yes ' s the man ' s hat , isn ' t it ? what !
The quick brown fox jumps over the lazy dog while the children are playing in the park.
zero one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 10 100
"""

# Images as (file name, how to make it): photo-like scenes in the modes and sizes datasets have.
IMAGES = ("street.jpg", "portrait.jpg", "gray.jpg", "tiny.jpg", "palette.png", "alpha.png")

QUESTIONS = [
    ("What color is the bus?", "red"),
    ("How many people are on the street?", "two"),
    ("Is it raining?", "no"),
    ("What is in the sky?", "the sun"),
    ("Where is the dog?", "on the grass"),
]
CAPTIONS = [
    "A red bus driving down a city street.",
    "A house with a blue roof under a clear sky.",
    "Two dogs playing on the green grass in a park.",
]
# Decoding: token strings whose decoded text 4.33's clean-up changes.
DECODE_TEXTS = ["red , blue . yes ' s", "the man ' s hat , isn ' t it ? what !", " two dogs", "a b"]


# -- inputs ----------------------------------------------------------------------------------
def photo(width: int, height: int, seed: int) -> Image.Image:
    """A scene: sky gradient, ground, a sun, a house, noise and blur, so JPEG behaves as on photos."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([90, 140, 220]) * (1 - y) + np.array([200, 220, 250]) * y
    ground = np.array([70, 120, 50]) + rng.normal(0, 12, (height, width, 3))
    horizon = int(height * (0.55 + 0.1 * rng.random()))
    pixels = np.broadcast_to(sky, (height, width, 3)).copy()
    pixels[horizon:] = ground[horizon:]
    pixels += rng.normal(0, 6, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    r = max(2, min(width, height) // 10)
    cx, cy = int(width * rng.uniform(0.6, 0.85)), int(height * rng.uniform(0.1, 0.3))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 220, 90))
    x0, w = int(width * rng.uniform(0.1, 0.3)), max(4, width // 4)
    draw.rectangle((x0, horizon - w // 2, x0 + w, horizon + w // 3), fill=(180, 60, 50))
    draw.polygon(
        [(x0 - 2, horizon - w // 2), (x0 + w // 2, horizon - w), (x0 + w + 2, horizon - w // 2)], (40, 60, 140)
    )
    return image.filter(ImageFilter.GaussianBlur(0.6))


def write_images(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    makers = {
        "street.jpg": lambda: photo(320, 240, 1).save(directory / "street.jpg", quality=88),
        "portrait.jpg": lambda: photo(180, 260, 2).save(directory / "portrait.jpg", quality=85),
        "gray.jpg": lambda: photo(200, 150, 3).convert("L").save(directory / "gray.jpg", quality=90),
        "tiny.jpg": lambda: photo(40, 30, 4).save(directory / "tiny.jpg", quality=92),
        "palette.png": lambda: photo(120, 90, 5).quantize(64).save(directory / "palette.png"),
        "alpha.png": lambda: _with_alpha(photo(96, 96, 6)).save(directory / "alpha.png"),
    }
    for name in IMAGES:
        if not (directory / name).exists():
            makers[name]()


def _with_alpha(image: Image.Image) -> Image.Image:
    alpha = Image.linear_gradient("L").resize(image.size).point(lambda v: 60 + v * 195 // 255)
    image = image.convert("RGBA")
    image.putalpha(alpha)
    return image


def open_image(path: Path) -> Image.Image:
    """As OpenFlamingo's VQA, caption and Hateful Memes datasets read images: opened, loaded, mode kept."""
    image = Image.open(path)
    image.load()
    return image


# -- weights ---------------------------------------------------------------------------------
def grid_normal(generator: torch.Generator, shape: torch.Size, std: float) -> torch.Tensor:
    """Normal values rounded to a power-of-two step of about std / 8: exact in every float format."""
    step = 2.0 ** round(math.log2(std / 8))
    values = torch.randn(shape, generator=generator) * std
    return (values / step).round().clamp(-40, 40) * step


def fill_weights(module: torch.nn.Module, seed: int, matrix_gain: float = 1.0) -> None:
    """Deterministic coarse weights: matrices ~ gain / sqrt(fan_in), norms ~ 1, other vectors ~ 0.1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(module.named_parameters(), key=lambda item: item[0]):
            if not param.dtype.is_floating_point or param.ndim == 0:
                continue
            if param.ndim >= 2:
                fan_in = math.prod(param.shape[1:])
                param.copy_(grid_normal(generator, param.shape, matrix_gain / math.sqrt(fan_in)))
            elif name.endswith("weight") and ("norm" in name or "ln" in name):
                param.copy_(1 + grid_normal(generator, param.shape, 0.1))
            else:
                param.copy_(grid_normal(generator, param.shape, 0.1))


# -- building the models ---------------------------------------------------------------------
def build_tokenizer(directory: Path) -> None:
    """A byte-level BPE saved as GPT-NeoX-20B's is (the tokenizer of every released OpenFlamingo LM)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPTNeoXTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    wrapped = GPTNeoXTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    wrapped.save_pretrained(directory)


def build_lm(family: str, directory: Path, seed: int) -> None:
    import transformers

    config_name, fields, _ = FAMILIES[family]
    config = getattr(transformers, config_name)(vocab_size=LM_VOCAB_SIZE, bos_token_id=0, eos_token_id=0, **fields)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    fill_weights(model, seed, matrix_gain=2.0)  # sharper logits: greedy choices far from ties
    model.save_pretrained(directory)  # pytorch_model.bin, as transformers 4.33 writes it


def build_vision(directory: Path) -> Path:
    import open_clip

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / f"{VISION_NAME}.json"
    config.write_text(json.dumps(VISION_CONFIG, indent=2) + "\n")
    open_clip.add_model_config(config)
    clip = open_clip.create_model(VISION_NAME, pretrained=None)
    fill_weights(clip, seed=7)
    weights = directory / f"{VISION_NAME}.pt"
    torch.save(clip.state_dict(), weights)
    return weights


def load_openflamingo(root: Path, family: str) -> tuple[Any, Any, Any]:
    """``create_model_and_transforms`` + the checkpoint, as OpenFlamingo's EvalModel loads a model."""
    from open_flamingo import create_model_and_transforms

    model, image_processor, tokenizer = create_model_and_transforms(
        VISION_NAME,
        str(root / "vision" / f"{VISION_NAME}.pt"),
        str(root / family / "lm"),
        str(root / family / "lm"),
        cross_attn_every_n_layers=FAMILIES[family][2],
    )
    checkpoint = root / family / "checkpoint.pt"
    if checkpoint.exists():
        model.load_state_dict(torch.load(checkpoint, map_location="cpu"), strict=False)
    model.eval()
    tokenizer.padding_side = "left"
    return model, image_processor, tokenizer


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What OpenFlamingo's training saves: trainable weights and every embedding, minus the layer aliases."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    aliases = ("lang_encoder.old_decoder_blocks", "lang_encoder.gated_cross_attn_layers", "vision_encoder")
    return {
        name: value.clone()
        for name, value in model.state_dict().items()
        if (name in trainable or "embed" in name) and not any(alias in name for alias in aliases)
    }


def build_family(root: Path, family: str, seed: int) -> None:
    build_tokenizer(root / family / "lm")
    build_lm(family, root / family / "lm", seed)
    model, _, _ = load_openflamingo(root, family)
    fill_weights(model.perceiver, 100)  # the same in every family: stored once after compression
    for index, layer in enumerate(model.lang_encoder.gated_cross_attn_layers):
        if layer is None:
            continue
        fill_weights(layer, seed + 200 + index)
        with torch.no_grad():  # gates start at 0 (no effect): open them, as training does
            layer.attn_gate.fill_(0.75)
            layer.ff_gate.fill_(0.5)
    torch.save(trainable_state(model), root / family / "checkpoint.pt")


# -- recording -------------------------------------------------------------------------------
def prompts(images: list[str]) -> tuple[list[str], list[list[str]]]:
    """A 0-shot VQA, a 2-shot caption and a 4-shot VQA prompt, as OpenFlamingo's evaluate.py writes them."""

    def vqa(question: str, answer: str | None = None) -> str:
        tail = f"{answer}<|endofchunk|>" if answer is not None else ""
        return f"<image>Question:{question} Short answer:{tail}"

    def caption(text: str | None = None) -> str:
        return f"<image>Output:{text}<|endofchunk|>" if text is not None else "<image>Output:"

    zero = "".join(vqa(q, a) + "\n" for q, a in QUESTIONS[:2]).replace("<image>", "") + vqa(QUESTIONS[2][0])
    two = "".join(caption(c) + "\n" for c in CAPTIONS[:2]) + caption()
    four = "".join(vqa(q, a) + "\n" for q, a in QUESTIONS[:4]) + vqa(QUESTIONS[4][0])
    media = [
        [images[0]],  # 0 shots: only the query image (OpenFlamingo's VQA/caption path)
        [images[1], images[2], images[3]],
        [images[4], images[5], images[0], images[1], images[2]],
    ]
    return [zero, two, four], media


def pixel_batch(image_processor: Any, images: dict[str, Image.Image], media: list[list[str]]) -> torch.Tensor:
    """(B, T_img, 1, C, H, W), zero-padded on T_img, as EvalModel._prepare_images builds it."""
    width = max(len(m) for m in media)
    first = image_processor(images[media[0][0]])
    batch = torch.zeros((len(media), width, 1, *first.shape), dtype=first.dtype)
    for i, names in enumerate(media):
        for j, name in enumerate(names):
            batch[i, j, 0] = image_processor(images[name])
    return batch


def record_family(root: Path, family: str, images: dict[str, Image.Image]) -> dict[str, Any]:
    model, image_processor, tokenizer = load_openflamingo(root, family)
    texts, media = prompts(sorted(images))
    vision_x = pixel_batch(image_processor, images, media)
    encoded = tokenizer(texts, padding="longest", truncation=True, max_length=2000, return_tensors="pt")
    input_ids, attention_mask = encoded["input_ids"], encoded["attention_mask"].bool()
    with torch.inference_mode():
        logits = model(vision_x, input_ids, attention_mask=attention_mask).logits
        tail = 12
        out: dict[str, Any] = {
            "cross_attn_every_n_layers": FAMILIES[family][2],
            "texts": texts,
            "media": media,
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "logits_tail": logits[:, -tail:].clone(),
            "logits_absmax": logits[attention_mask].abs().max(),
            "eoc_token_id": model.eoc_token_id,
            "media_token_id": model.media_token_id,
            "tokenizer_length": len(tokenizer),
        }
        for label, beams in (("greedy", 1), ("beam3", 3)):
            generated = model.generate(
                vision_x,
                input_ids,
                attention_mask,
                min_new_tokens=0,
                max_new_tokens=8,
                num_beams=beams,
                length_penalty=0.0,
            )[:, input_ids.shape[1] :]
            out[label] = {"ids": generated.clone(), "text": tokenizer.batch_decode(generated, skip_special_tokens=True)}
    out["rank"] = record_rank(model, image_processor, tokenizer, images)
    out["decode"] = [
        (ids, tokenizer.decode(ids, skip_special_tokens=True))
        for ids in (tokenizer(t, add_special_tokens=False)["input_ids"] for t in DECODE_TEXTS)
    ]
    return out


RANK_NAMES = ["golden retriever", "tabby cat", "red bus", "a"]


def record_rank(model: Any, image_processor: Any, tokenizer: Any, images: dict[str, Image.Image]) -> dict[str, Any]:
    """Class-name scores as OpenFlamingo's ``get_rank_classifications`` (``use_cache=True``) computes them.

    The padded prompts run once with their mask; each class name then continues the cached prompt a
    token at a time with no attention mask, so it attends to the shorter prompts' padding. The
    score is the mean log-probability of the name's tokens. Prompts are joined with nothing, as
    OpenFlamingo's classification prompts are, and differ in length.
    """
    names = sorted(images)
    texts = [
        "<image>Output:golden retriever<|endofchunk|><image>Output:",
        "<image>Output:",
        "<image>Output:a red bus under a clear sky<|endofchunk|><image>Output:tabby cat<|endofchunk|><image>Output:",
    ]
    media = [[names[0], names[1]], [names[2]], [names[3], names[4], names[5]]]
    vision_x = pixel_batch(image_processor, images, media)
    encoded = tokenizer(texts, padding="longest", truncation=True, max_length=2000, return_tensors="pt")
    ids, mask = encoded["input_ids"], encoded["attention_mask"].bool()
    with torch.inference_mode():
        model.cache_media(input_ids=ids, vision_x=vision_x)
        prompt = model(vision_x=None, lang_x=ids, attention_mask=mask, clear_conditioned_layers=False, use_cache=True)
        scores = []
        for name in RANK_NAMES:
            tokens = tokenizer(name, add_special_tokens=False)["input_ids"]
            cache, logits = prompt.past_key_values, [prompt.logits[:, -1]]
            for token in tokens[:-1]:
                step = model(
                    vision_x=None,
                    lang_x=torch.full((len(texts), 1), token),
                    attention_mask=None,
                    clear_conditioned_layers=False,
                    past_key_values=cache,
                    use_cache=True,
                )
                cache = step.past_key_values
                logits.append(step.logits[:, -1])
            logprobs = torch.log_softmax(torch.stack(logits, dim=1), dim=-1)
            picked = logprobs.gather(-1, torch.tensor(tokens).expand(len(texts), -1)[:, :, None])[..., 0]
            scores.append(picked.mean(dim=1))
        model.uncache_media()
    return {"texts": texts, "media": media, "names": RANK_NAMES, "scores": torch.stack(scores, dim=1)}


def record_images(root: Path, names: list[str]) -> dict[str, Any]:
    """Pixels from the tiny model's transform (32 px) and from ViT-L-14's (224 px), and the vision tokens."""
    import open_clip

    model, image_processor, _ = load_openflamingo(root, "gpt_neox")
    vit_l = open_clip.image_transform(224, is_train=False)  # ViT-L-14/openai: OpenAI mean/std, bicubic
    out: dict[str, Any] = {}
    for name in names:
        image = open_image(root / "images" / name)
        pixels = image_processor(image)
        with torch.inference_mode():
            pooled, tokens = (value[0] for value in model.vision_encoder(pixels[None]))
        # 224 px pixels are ToTensor(uint8) normalised: keep the uint8 values, 1/4 of the floats' size.
        normalize = vit_l.transforms[-1]
        mean, std = torch.tensor(normalize.mean)[:, None, None], torch.tensor(normalize.std)[:, None, None]
        large = ((vit_l(image) * std + mean) * 255).round().to(torch.uint8)
        out[name] = {
            "mode": image.mode,
            "pixels32": pixels,
            "vision_tokens": tokens.clone(),
            "pooled": pooled.clone(),  # what RICES ranks by (clip.encode_image)
            "pixels224_uint8": large,
        }
    return out


# -- IDEFICS -----------------------------------------------------------------------------------
IDEFICS_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]
IDEFICS_CONFIG = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "cross_layer_interval": 1,
    "max_position_embeddings": 512,
    "use_resampler": True,
    "vision_config": {
        "embed_dim": 32,
        "image_size": 32,
        "patch_size": 8,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
    },
    "perceiver_config": {
        "use_resampler": True,
        "resampler_n_latents": 4,
        "resampler_depth": 1,
        "resampler_n_heads": 2,
        "resampler_head_dim": 8,
    },
}


def idefics_prompts() -> list[list[str]]:
    """Processor inputs: text items and image file names (``@name``), as the IDEFICS model card writes them."""
    return [
        ["Question: Is it raining? Answer: no\n", "@tiny.jpg", "Question: What is in the sky? Answer:"],
        [
            "@street.jpg",
            "Question: What color is the bus? Answer: red\n",
            "@portrait.jpg",
            "Question: Is it raining? Answer:",
        ],
        ["@palette.png", "Output: A red bus.\n", "@alpha.png", "Output: A house.\n", "@gray.jpg", "Output:"],
    ]


def build_idefics(root: Path) -> None:
    """A sentencepiece BPE LLaMA tokenizer with IDEFICS's added tokens, and a tiny model on the weight grid."""
    import sentencepiece as spm
    from transformers import (
        IdeficsConfig,
        IdeficsForVisionText2Text,
        IdeficsImageProcessor,
        IdeficsProcessor,
        LlamaTokenizerFast,
    )

    directory = root / "idefics"
    directory.mkdir(parents=True)
    model_file = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS.splitlines()),
        model_writer=model_file,
        model_type="bpe",
        vocab_size=320,
        byte_fallback=True,
        character_coverage=1.0,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        num_threads=1,
        minloglevel=2,
    )
    (directory / "tokenizer.model").write_bytes(model_file.getvalue())
    tokenizer = LlamaTokenizerFast(vocab_file=str(directory / "tokenizer.model"), pad_token="<unk>")
    base = len(tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": IDEFICS_TOKENS})
    config = IdeficsConfig(vocab_size=base, additional_vocab_size=len(tokenizer) - base, **IDEFICS_CONFIG)
    torch.manual_seed(11)
    model = IdeficsForVisionText2Text(config).eval()
    fill_weights(model, seed=11, matrix_gain=2.0)
    with torch.no_grad():  # the gates: open, so that the images matter
        for name, param in model.named_parameters():
            if "alpha_cross_attn" in name:
                param.fill_(0.75)
            elif "alpha_dense" in name:
                param.fill_(0.5)
    model.save_pretrained(directory)
    # 4.33's IdeficsImageProcessor normalises with None (NaN) unless given these, as the released configs do.
    image_processor = IdeficsImageProcessor(
        image_size=32, image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711]
    )
    IdeficsProcessor(image_processor, tokenizer).save_pretrained(directory)


def record_idefics(root: Path, images: dict[str, Image.Image]) -> dict[str, Any]:
    """Processor outputs, logits and generations, as transformers 4.33 computes them."""
    from transformers import IdeficsForVisionText2Text, IdeficsProcessor

    directory = root / "idefics"
    processor = IdeficsProcessor.from_pretrained(directory)
    model = IdeficsForVisionText2Text.from_pretrained(directory).eval()
    tokenizer = processor.tokenizer
    items = idefics_prompts()
    batch = processor([[images[i[1:]] if i.startswith("@") else i for i in p] for p in items], return_tensors="pt")
    stop = tokenizer("\n", add_special_tokens=False)["input_ids"][-1]
    image, fake = tokenizer.convert_tokens_to_ids(["<image>", "<fake_token_around_image>"])
    out: dict[str, Any] = {"prompts": items, "newline_id": stop, **{k: v.clone() for k, v in batch.items()}}
    out["pixels"] = {name: processor.image_processor([img])[0].clone() for name, img in images.items()}
    with torch.inference_mode():
        logits = model(**batch).logits
        out["logits_tail"] = logits[:, -12:].clone()
        out["logits_absmax"] = logits[batch["attention_mask"].bool()].abs().max()
        for label, beams in (("greedy", 1), ("beam3", 3)):
            options = {"length_penalty": 0.0} if beams > 1 else {}
            generated = model.generate(
                **batch,
                max_new_tokens=8,
                num_beams=beams,
                do_sample=False,
                use_cache=True,
                eos_token_id=[stop, tokenizer.eos_token_id],
                pad_token_id=tokenizer.pad_token_id,
                bad_words_ids=[[image], [fake]],
                **options,
            )[:, batch["input_ids"].shape[1] :]
            # The answer ends before the newline or end of sequence that stopped it.
            ends = {stop, tokenizer.eos_token_id}
            cut = [row[: next((i for i, t in enumerate(row) if t in ends), len(row))] for row in generated.tolist()]
            out[label] = {"ids": cut, "text": tokenizer.batch_decode(cut, skip_special_tokens=True)}
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import version

    packages = ("torch", "torchvision", "transformers", "tokenizers", "open_clip_torch", "open-flamingo", "pillow")
    return {"python": platform.python_version(), **{name: version(name) for name in packages}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the fixture folder (tests/fixtures/release_stack)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated LM families")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    args.output.mkdir(parents=True, exist_ok=True)
    write_images(args.output / "images")

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        shutil.copytree(args.output / "images", root / "images")
        build_vision(root / "vision")
        for index, family in enumerate(families):
            build_family(root, family, seed=1000 * (index + 1))
        build_idefics(root)
        images = {name: open_image(root / "images" / name) for name in IMAGES}
        reference = {
            "versions": versions(),
            "vision_name": VISION_NAME,
            "images": record_images(root, list(IMAGES)),
            "families": {family: record_family(root, family, images) for family in families},
            "idefics": record_idefics(root, images),
        }
        torch.save(reference, root / "reference.pt")
        archive = args.output / ARCHIVE
        with io.BytesIO() as buffer:
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for path in sorted(p for p in root.rglob("*") if p.is_file() and "images" not in p.parts):
                    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
            archive.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    sizes = {p.name: p.stat().st_size for p in sorted(args.output.rglob("*")) if p.is_file()}
    print(json.dumps({"versions": reference["versions"], "bytes": sizes}, indent=2))


if __name__ == "__main__":
    main()
