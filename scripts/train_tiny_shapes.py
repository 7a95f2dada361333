"""Train the tiny Flamingo bundled as ``fseval/assets/tiny-shapes`` on the synthetic shapes world.

    python scripts/train_tiny_shapes.py                      # writes fseval/assets/tiny-shapes
    fseval run --task shapes_vqa --shots 0,4 --model fseval/assets/tiny-shapes

The model is fseval's own Flamingo (open_clip ViT, Perceiver Resampler, gated cross-attention
before every GPT-NeoX layer) built by fseval's loader from a directory in the released layout, so
the trained files load with ``fseval.models.registry.load_model`` like any other model directory.
All weights are trained from scratch (vision tower, resampler, cross-attention and LM) with
next-token loss on few-shot episodes rendered by ``fseval.tasks.prompts.render`` exactly as ``fseval run``
renders them: random demos from the train split, 0 to 4 shots, and at 0 shots the two text-only
demos of the Flamingo convention. The loss covers the answers (VQA) and captions of every item that
has its image, each followed by ``<|endofchunk|>``; the text-only demos of 0 shots are context only.

Training images are the bundled train split plus a larger world drawn with other seeds by the same
generator (not shipped); the bundled val/test images are never trained on. Weights are saved in
fp16 (the loader casts them to the requested precision): vision tower in ``vision/``, LM and
tokenizer in ``lm/``, and OpenFlamingo's trainable weights (resampler, cross-attention, embeddings)
under its key names in ``checkpoint.pt``, which the model card ``fseval-model.json`` points to.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from fseval.data.shapes import write_shapes
from fseval.media.images import load_media
from fseval.models.card import CARD_NAME
from fseval.models.openflamingo import load
from fseval.models.openflamingo.tiny import trainable_state_dict
from fseval.tasks.prompts import render
from fseval.tasks.spec import Task, load_tasks
from fseval.tasks.task_data import load_task_data
from fseval.types import END_OF_CHUNK, Sample

VISION_NAME = "fseval-tiny-shapes-vit"
VISION_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}
LM_CONFIG: dict[str, Any] = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 512,
    "rotary_pct": 0.25,
    "tie_word_embeddings": False,
}
TASKS = ("shapes_vqa", "shapes_caption")
# Items end with "Short answer:{answer}<|endofchunk|>" (VQA) or "Output:{caption}<|endofchunk|>".
TARGET = re.compile(r"(?:Short answer:|Output:)(.*?" + re.escape(END_OF_CHUNK) + ")", re.DOTALL)


@dataclass(frozen=True)
class Episode:
    text: str  # the rendered prompt followed by the query's target and <|endofchunk|>
    media: list[str]  # media keys in prompt order
    shots: int


def build_tokenizer(corpus: list[str], vocab_size: int) -> Any:
    """Byte-level BPE trained on shapes prompts: every word of the world is one token, any text round-trips."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=eos, eos_token=eos, unk_token=eos)


def corpus_of(pools: dict[str, list[Sample]]) -> list[str]:
    lines = []
    for samples in pools.values():
        for sample in samples:
            lines += [sample.fields.get("question", ""), *sample.fields.get("answers", [])]
            lines += sample.fields.get("references", [])
    return [*lines, "Question: Short answer: Output:"] * 4


def write_initial_model(root: Path, tokenizer: Any) -> dict[str, Any]:
    """The released layout with random weights; returns the model card's arguments (paths relative)."""
    import open_clip
    import transformers
    from safetensors.torch import save_file

    (root / "vision").mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(root / "lm")
    # The loader adds <|endofchunk|>, <image> and <PAD>; size the LM for them so nothing is resized.
    n_tokens = len(tokenizer) + 3
    config = transformers.GPTNeoXConfig(
        vocab_size=n_tokens, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, **LM_CONFIG
    )
    transformers.GPTNeoXForCausalLM(config).save_pretrained(root / "lm")
    vision_config = root / "vision" / f"{VISION_NAME}.json"
    vision_config.write_text(json.dumps(VISION_CONFIG, indent=2) + "\n")
    open_clip.add_model_config(vision_config)
    clip = open_clip.create_model(VISION_NAME, pretrained=None)
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, root / "vision" / f"{VISION_NAME}.safetensors")
    return {
        "vision_encoder": VISION_NAME,
        "vision_pretrained": f"vision/{VISION_NAME}.safetensors",
        "vision_config": f"vision/{VISION_NAME}.json",
        "lm": "lm",
        "tokenizer": "lm",
        "cross_attn_every_n_layers": 1,
        # Trained on open_clip 3.x, whose patch tokens pass through ln_post (released OpenFlamingo
        # models were not); the card keeps the convention the weights were trained with.
        "vision_token_ln": True,
    }


def absolute(root: Path, arguments: dict[str, Any]) -> dict[str, Any]:
    paths = ("vision_pretrained", "vision_config", "lm", "tokenizer", "checkpoint")
    return {k: str(root / v) if k in paths else v for k, v in arguments.items()}


def sample_episode(task: Task, pool: list[Sample], rng: random.Random) -> Episode:
    """One few-shot sequence as ``fseval run`` renders it, with the query's target appended."""
    shots = rng.choice([0, 0, 1, 2, 3, 4, 4])
    n_demos = shots if shots > 0 else task.spec.zero_shot_text_demos
    query, *demos = rng.sample(pool, n_demos + 1)
    text, media = render(task.prompt, demos, query, demo_media=shots > 0)
    if "answers" in query.fields:
        target = rng.choice(query.fields["answers"])
    else:
        target = rng.choice(query.fields["references"]).strip()
    return Episode(text + target + END_OF_CHUNK, [m.key for m in media], shots)


def encode(tokenizer: Any, episode: Episode) -> tuple[list[int], list[bool]]:
    """Token ids and which of them are trained: targets of items that carry their image."""
    encoded = tokenizer(episode.text, return_offsets_mapping=True)
    spans = [m.span(1) for m in TARGET.finditer(episode.text)]
    if episode.shots == 0:
        spans = spans[-1:]
    trained = [any(a <= s and e <= b for a, b in spans) and e > s for s, e in encoded["offset_mapping"]]
    return encoded["input_ids"], trained


class Batches:
    """Episodes of both tasks, tokenised and right-padded, with the distinct images they need.

    The Perceiver Resampler dominates the cost of a step, so each batch draws all its episodes
    (queries and demos) from a random subset of ``n_images`` images, which are encoded once.
    """

    def __init__(
        self, tasks: dict[str, Task], pools: dict[str, list[Sample]], adapter: Any, seed: int, n_images: int
    ) -> None:
        self.tasks, self.tokenizer, self.n_images = tasks, adapter.tokenizer, n_images
        self.rng = random.Random(seed)
        self.by_image: dict[str, dict[str, list[Sample]]] = {name: {} for name in pools}
        for name, samples in pools.items():
            for sample in samples:
                self.by_image[name].setdefault(sample.media[0].key, []).append(sample)
        self.keys = sorted({key for images in self.by_image.values() for key in images})
        self.pixels = {
            ref.key: adapter.image_processor(load_media(ref).frames[0])
            for samples in pools.values()
            for sample in samples
            for ref in sample.media
        }

    def __call__(self, size: int) -> dict[str, torch.Tensor]:
        chosen = self.rng.sample(self.keys, self.n_images)
        pools = {name: [s for key in chosen for s in images.get(key, [])] for name, images in self.by_image.items()}
        episodes = []
        for _ in range(size):
            name = self.rng.choice(TASKS)
            episodes.append(sample_episode(self.tasks[name], pools[name], self.rng))
        encoded = [encode(self.tokenizer, e) for e in episodes]
        length = max(len(ids) for ids, _ in encoded)
        pad = self.tokenizer.pad_token_id
        keys = sorted({k for e in episodes for k in e.media})
        index = {k: i + 1 for i, k in enumerate(keys)}  # 0 is the padding image
        t_max = max(len(e.media) for e in episodes)
        return {
            "input_ids": torch.tensor([ids + [pad] * (length - len(ids)) for ids, _ in encoded]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (length - len(ids)) for ids, _ in encoded]),
            "trained": torch.tensor([mask + [False] * (length - len(mask)) for _, mask in encoded]),
            "pixels": torch.stack([self.pixels[k] for k in keys]),
            "media_index": torch.tensor([[index[k] for k in e.media] + [0] * (t_max - len(e.media)) for e in episodes]),
        }


def loss_and_accuracy(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Next-token loss on the trained tokens; the vision tower gets gradients too (encode_vision_x would not)."""
    tokens = model.vision_encoder(batch["pixels"])[1]
    latents = model.perceiver(tokens[:, None, None])[:, 0]  # (U, n_latents, D)
    latents = torch.cat([torch.zeros_like(latents[:1]), latents])
    media = latents[batch["media_index"]]  # (B, T_img, n_latents, D)
    logits = model(None, batch["input_ids"], attention_mask=batch["attention_mask"], media=media).logits
    trained = batch["trained"][:, 1:]
    predicted, wanted = logits[:, :-1][trained], batch["input_ids"][:, 1:][trained]
    accuracy = (predicted.argmax(-1) == wanted).float().mean().item()
    return F.cross_entropy(predicted.float(), wanted), accuracy


def schedule(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def save(model: Any, root: Path, arguments: dict[str, Any], description: str) -> None:
    """Overwrite the initial files with the trained weights, in fp16; write checkpoint.pt and the card."""
    import transformers
    from safetensors.torch import load_file, save_file

    vision_file = root / "vision" / f"{VISION_NAME}.safetensors"
    clip_state = load_file(vision_file)
    clip_state.update({f"visual.{k}": v for k, v in model.vision_encoder.state_dict().items()})
    save_file({k: v.half().contiguous() for k, v in clip_state.items()}, vision_file)

    lm_state = {
        re.sub(r"\.decoder_layer\.", ".", k): v
        for k, v in model.lang_encoder.state_dict().items()
        if ".gated_cross_attn_layer." not in k
    }
    lm = transformers.GPTNeoXForCausalLM.from_pretrained(root / "lm")
    lm.load_state_dict(lm_state, strict=True)
    lm.half().save_pretrained(root / "lm")
    torch.save({k: v.half() for k, v in trainable_state_dict(model).items()}, root / "checkpoint.pt")
    card = {
        "family": "openflamingo",
        "name": "openflamingo-tiny-shapes",
        "description": description,
        "args": {**arguments, "checkpoint": "checkpoint.pt"},
        "paths": ["vision_pretrained", "vision_config", "lm", "tokenizer", "checkpoint"],
    }
    (root / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")


def pools_for(tasks: dict[str, Task], extra_dir: Path) -> dict[str, list[Sample]]:
    """Each task's bundled demo (train) split plus the extra world's."""
    return {
        name: load_task_data(task, None).demo_pool + load_task_data(task, str(extra_dir)).demo_pool
        for name, task in tasks.items()
    }


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    root = Path(args.output)
    tasks = {task.name: task for task in load_tasks(TASKS)}
    with tempfile.TemporaryDirectory() as extra:
        write_shapes(Path(extra), n_train=args.extra_images, n_val=1, seed=args.seed + 1000)
        pools = pools_for(tasks, Path(extra))
        tokenizer = build_tokenizer(corpus_of(pools), args.vocab_size)
        arguments = write_initial_model(root, tokenizer)
        adapter = load(**absolute(root, arguments))
        model = adapter.model
        # Flamingo starts its gates at 0 to keep a pretrained LM intact; this LM starts from scratch too.
        for name, param in model.named_parameters():
            if name.endswith(("attn_gate", "ff_gate")):
                torch.nn.init.constant_(param, 0.5)
        model.train().requires_grad_(True)
        batches = Batches(tasks, pools, adapter, args.seed, args.images_per_batch)
    sizes = {name: len(pool) for name, pool in pools.items()}
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; training samples: {sizes}")

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    lr_at = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule(s, args.steps, args.warmup))
    start, losses, accuracies = time.time(), [], []
    for step in range(args.steps):
        loss, accuracy = loss_and_accuracy(model, batches(args.batch_size))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        lr_at.step()
        losses.append(loss.item())
        accuracies.append(accuracy)
        if (step + 1) % args.log_every == 0 or step == 0:
            n = len(losses)
            print(
                f"step {step + 1:5d}  loss {sum(losses) / n:.4f}  target-token acc {sum(accuracies) / n:.3f}  "
                f"lr {lr_at.get_last_lr()[0]:.2e}  {time.time() - start:6.0f}s",
                flush=True,
            )
            losses, accuracies = [], []
    minutes = (time.time() - start) / 60
    model.eval()
    description = (
        f"Tiny Flamingo trained from scratch on fseval's shapes world by scripts/train_tiny_shapes.py "
        f"(seed {args.seed}, {args.steps} steps of {args.batch_size} episodes, {minutes:.1f} min on "
        f"{args.threads} CPU threads)."
    )
    save(model, root, arguments, description)
    print(f"trained in {minutes:.1f} min; wrote {root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(Path(__file__).parents[1] / "fseval" / "assets" / "tiny-shapes"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--extra-images", type=int, default=2000, help="training images beyond the bundled train split")
    parser.add_argument("--images-per-batch", type=int, default=16, help="each batch's episodes use only these")
    parser.add_argument("--vocab-size", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=100)
    train(parser.parse_args())


if __name__ == "__main__":
    main()
