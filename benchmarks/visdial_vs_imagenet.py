"""Time per ranked candidate: VisDial (100 options a round) against ImageNet (1000 class names), tiny OpenFlamingo.

Both tasks' prompts are rendered as ``fseval run`` renders them (4 shots, demos from the train split),
on the synthetic release files of ``tests/data_writers.py`` (VisDial at 10 rounds a dialog, so
queries carry up to nine rounds of history), and ranked by the model's ``rank`` as a run ranks them:
one prompt pass per prompt, every candidate scored from its cache. Prints the seconds per candidate
of each and their ratio (the issue asks VisDial to stay within 3x ImageNet's).

    python benchmarks/visdial_vs_imagenet.py [--prompts 4] [--repeats 3] [--shots 4]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def prompts_of(task_name: str, data_dir: Path, count: int, shots: int) -> tuple[list[Any], list[list[str]]]:
    """``count`` query prompts of the task (with their media decoded) and each one's candidates."""
    from fseval.media.images import load_media
    from fseval.tasks.prompts import render
    from fseval.tasks.ranking import candidates_for
    from fseval.tasks.spec import load_tasks
    from fseval.tasks.task_data import load_task_data
    from fseval.types import Prompt

    (task,) = load_tasks([task_name])
    data = load_task_data(task, str(data_dir), None)
    rng = random.Random(0)
    step = max(1, len(data.eval) // count)
    prompts, candidates = [], []
    for sample in data.eval[::step][:count]:
        demos = rng.sample(data.demo_pool, shots)
        text, refs = render(task.prompt, demos, sample, demo_media=True)
        prompts.append(Prompt(text, tuple(load_media(ref) for ref in refs)))
        candidates.append(candidates_for(task, sample))
    return prompts, candidates


def seconds_per_candidate(model: Any, prompts: list[Any], candidates: list[list[str]], repeats: int) -> float:
    model.rank(prompts[:1], candidates[:1])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.rank(prompts, candidates)
        best = min(best, time.perf_counter() - start)
    return best / sum(len(c) for c in candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shots", type=int, default=4)
    args = parser.parse_args()

    from data_writers import write_imagenet, write_visdial

    from fseval.models.registry import load_model

    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        subprocess.run(
            [sys.executable, "-m", "fseval", "make-tiny", str(root / "model")], check=True, capture_output=True
        )
        model = load_model(str(root / "model"), {}, device="cpu")
        write_imagenet(root / "imagenet", classes_with_images=tuple(range(8)))
        write_visdial(root / "visdial", rounds=10)
        found = {}
        for task, folder in (("imagenet", "imagenet"), ("visdial", "visdial")):
            prompts, candidates = prompts_of(task, root / folder, args.prompts, args.shots)
            tokens = sum(len(p.text) for p in prompts) / len(prompts)
            found[task] = seconds_per_candidate(model, prompts, candidates, args.repeats)
            print(
                f"{task:9s} {len(prompts)} prompts x {len(candidates[0])} candidates, "
                f"prompt {tokens:.0f} characters: {1e3 * found[task]:.3f} ms per candidate"
            )
        print(f"visdial / imagenet per candidate: {found['visdial'] / found['imagenet']:.2f}x (limit 3x)")


if __name__ == "__main__":
    main()
