"""Time ranking the 1000 ImageNet class names against one greedy generation of the same prompt.

Usage: python benchmarks/rank_vs_generate.py [--shots 8] [--model DIR]
Without --model a tiny random model is written with `fseval make-tiny` into a temporary folder.
Both calls run after a warm-up, so the prompt's images are already in the adapter's media cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from PIL import Image

from fseval.data.classification import class_names
from fseval.models.base import GenerationSettings, Media, Prompt
from fseval.models.openflamingo import make_tiny
from fseval.models.registry import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model_dir = args.model or str(make_tiny(tempfile.mkdtemp() + "/tiny", seed=0))
    model = load_model(model_dir, {}, "cpu", "fp32")
    pictures = [Image.new("RGB", (224, 224), (20 * i, 90, 160)) for i in range(args.shots + 1)]
    images = tuple(Media(f"image{i}", (picture,)) for i, picture in enumerate(pictures))
    prompt = Prompt("<image>Output:tench<|endofchunk|>" * args.shots + "<image>Output:", images)
    names = class_names("imagenet_classnames.txt")
    greedy = GenerationSettings(max_new_tokens=5, num_beams=1)
    model.generate([prompt], greedy)
    model.rank([prompt], [names[:10]])

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    generate_s = best(lambda: model.generate([prompt], greedy))
    rank_s = best(lambda: model.rank([prompt], [names]))
    print(f"model: {model_dir}  shots: {args.shots}  threads: {torch.get_num_threads()}")
    print(f"greedy generation (5 tokens): {generate_s:.3f} s")
    print(f"rank 1000 class names:        {rank_s:.3f} s  ({rank_s / generate_s:.1f}x)")


if __name__ == "__main__":
    main()
