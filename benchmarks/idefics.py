"""IDEFICS speed switches, each against the same work with it off, on a random-weight model.

A random-weight IDEFICS with a ViT-B/16-size vision tower (fp32, CPU unless CUDA is present):

- ``media_cache``: queries at k shots whose demos are drawn from a small pool, as a k-shot evaluation
  does: throughput, images encoded per query, same outputs;
- ``reuse_image_states`` in ranking: the 1000 ImageNet class names ranked after two k-shot prompts,
  each candidate row's image projected to keys/values per row or once per image: seconds, same top-1.

Each setting runs twice, alternating, and the faster run counts.

    python benchmarks/idefics.py [--queries 16] [--shots 8] [--pool 16] [--batch 8]
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from PIL import Image
from transformers import IdeficsForVisionText2Text, IdeficsImageProcessor, IdeficsProcessor

from fseval.data.classification import class_names
from fseval.models.idefics.adapter import IdeficsAdapter
from fseval.models.idefics.inputs import FAKE_TOKEN
from fseval.models.idefics.settings import IdeficsSettings
from fseval.models.idefics.tiny import tiny_config, tiny_tokenizer
from fseval.models.settings import switched
from fseval.types import GenerationSettings, Media, Prompt


def build_model(device: str) -> tuple[IdeficsForVisionText2Text, IdeficsProcessor]:
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    base = tokenizer.get_vocab()[FAKE_TOKEN]
    config = tiny_config(base, len(tokenizer) - base)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 512, 1376, 8
    config.num_attention_heads, config.cross_layer_interval = 8, 4
    vision = config.vision_config
    vision.embed_dim, vision.image_size, vision.patch_size = 768, 224, 16
    vision.num_hidden_layers, vision.num_attention_heads, vision.intermediate_size = 12, 12, 3072
    config.perceiver_config.resampler_n_latents = 64
    model = IdeficsForVisionText2Text(config).eval().to(device)
    return model, IdeficsProcessor(IdeficsImageProcessor(image_size=224), tokenizer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--pool", type=int, default=16, help="demo images to draw from")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, processor = build_model(device)

    def noise(seed: int) -> Image.Image:
        return Image.effect_noise((320, 240), 20 + seed % 200).convert("RGB").rotate(seed)

    rng = random.Random(0)
    pool = [Media(f"train/{i}.jpg", (noise(i),)) for i in range(args.pool)]
    demo = "<image>Question:What is in the image? Short answer:a cat<|endofchunk|>\n"
    prompts = [
        Prompt(demo * args.shots + "<image>Question:And here? Short answer:", (*rng.sample(pool, args.shots), query))
        for query in (Media(f"val/{i}.jpg", (noise(1000 + i),)) for i in range(args.queries))
    ]
    greedy = GenerationSettings(max_new_tokens=5, num_beams=1)
    best: dict[bool, float] = {}
    outputs: dict[bool, list[list[int]]] = {}
    encoded: dict[bool, float] = {}
    for cache in (False, True, False, True):
        adapter = IdeficsAdapter(model, processor, IdeficsSettings(path="random", media_cache=cache))
        start = time.perf_counter()
        out = [
            ids
            for s in range(0, len(prompts), args.batch)
            for ids in adapter.generate_ids(prompts[s : s + args.batch], greedy)
        ]
        seconds = time.perf_counter() - start
        best[cache] = min(seconds, best.get(cache, float("inf")))
        outputs.setdefault(cache, out)
        encoded[cache] = adapter.counters["vision_images"] / len(prompts)
    print(
        f"IDEFICS (ViT-B/16-size vision, 8-layer LM, random weights, {device}, fp32, {torch.get_num_threads()} threads)"
    )
    print(
        f"{args.queries} queries at {args.shots} shots, demos from {args.pool} images, "
        f"batch {args.batch}, greedy 5 tokens"
    )
    print("| media_cache | seconds | queries/s | images encoded per query |")
    print("|---|---|---|---|")
    for cache in (False, True):
        rate = args.queries / best[cache]
        print(f"| {'on' if cache else 'off'} | {best[cache]:.2f} | {rate:.2f} | {encoded[cache]:.2f} |")
    print(f"speedup {best[False] / best[True]:.2f}x; same outputs: {outputs[True] == outputs[False]}")

    names = class_names("imagenet_classnames.txt")
    demo = "".join(f"<image>Output:{name}<|endofchunk|>" for name in names[: args.shots])
    ranked = [Prompt(demo + "<image>Output:", prompt.media[-args.shots - 1 :]) for prompt in prompts[:2]]
    seconds: dict[bool, float] = {}
    top: dict[bool, list[int]] = {}
    adapter = IdeficsAdapter(model, processor, IdeficsSettings(path="random"))
    adapter.rank(ranked[:1], [names[:8]])  # warm-up
    for reuse in (False, True, False, True):
        start = time.perf_counter()
        with switched(adapter, reuse_image_states=reuse):
            scores = adapter.rank(ranked, [names] * len(ranked))
        seconds[reuse] = min(time.perf_counter() - start, seconds.get(reuse, float("inf")))
        top[reuse] = [max(range(len(names)), key=lambda j, row=row: sum(row[j]) / len(row[j])) for row in scores]
    print(f"\nranking the {len(names)} ImageNet class names after {len(ranked)} {args.shots}-shot prompts")
    print("| reuse_image_states | seconds |")
    print("|---|---|")
    for reuse in (False, True):
        print(f"| {'on' if reuse else 'off'} | {seconds[reuse]:.2f} |")
    print(f"speedup {seconds[False] / seconds[True]:.2f}x; same top-1: {top[True] == top[False]}")


if __name__ == "__main__":
    main()
