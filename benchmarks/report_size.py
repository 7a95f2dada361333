"""Build time and size of ``fseval report`` for a large run (10,000 samples by default).

Writes a synthetic VQAv2-shaped run directory: N query images and a pool of demo images, 640x480
JPEGs (COCO's size in pixels and bytes) of random texture, whose thumbnails are at the large end of
what photographs give, each query with K random demos, VQA targets and groups; then times
``build_report`` on it (the whole command: reading the run, thumbnails, HTML) and prints the
report's size and what it holds.

    python benchmarks/report_size.py                       # 10,000 samples, 4 shots
    python benchmarks/report_size.py --samples 10000 --shots 32 --runs 2
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops

from fseval.record import RunRecord
from fseval.reports.compare import load_run
from fseval.reports.html import build_report

COLOURS = ["red", "green", "blue", "yellow", "white", "black", "brown", "orange"]


def image_bytes(rng: random.Random) -> bytes:
    """A 640x480 JPEG of about 150 KB (a COCO image's size, so as slow to decode) whose 80-pixel thumbnail
    keeps detail everywhere (about 2.2 KB, as large as a busy photograph's)."""
    cells = Image.frombytes("RGB", (48, 36), rng.randbytes(48 * 36 * 3)).resize((640, 480), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((640, 480), 12).convert("RGB")
    buffer = io.BytesIO()
    ImageChops.add(cells, grain, offset=-128).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_images(folder: Path, count: int, rng: random.Random) -> None:
    """``count`` files drawn from 256 distinct images: each file is read and decoded on its own (the report
    keys thumbnails by path), so time and size are those of distinct images, at a fraction of the set-up."""
    folder.mkdir(parents=True)
    distinct = [image_bytes(rng) for _ in range(256)]
    for i in range(count):
        (folder / f"{i:06d}.jpg").write_bytes(distinct[i % len(distinct)])


def write_run(root: Path, name: str, samples: int, pool: int, shots: int, seed: int) -> Path:
    rng = random.Random(seed)
    images = root / "images"
    if not images.exists():
        write_images(images, samples + pool, rng)
    out = root / name
    out.mkdir()
    lines = []
    for i in range(samples):
        demos = rng.sample(range(pool), shots)
        chunks = [
            f"<image>Question:What colour is object {d}? Short answer:{rng.choice(COLOURS)}<|endofchunk|>"
            for d in demos
        ]
        prompt = "".join(chunks) + f"<image>Question:What colour is object {i}? Short answer:"
        answer = rng.choice(COLOURS)
        lines.append(
            {
                "task": "vqav2", "shots": shots, "seed": seed, "trial": 0, "id": i, "demo_ids": demos,
                "prompt": prompt, "media": [str(images / f"{samples + d:06d}.jpg") for d in demos]
                + [str(images / f"{i:06d}.jpg")], "generation": answer, "prediction": answer,
                "targets": {"answers": [rng.choice(COLOURS) for _ in range(10)]}, "score": rng.choice([0.0, 0.3, 1.0]),
                "error": None, "ranking": None, "model_prompt": None,
                "groups": {"answer_type": "other", "question_type": "what color is the"},
            }
        )  # fmt: skip
    (out / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    mean = 100 * sum(line["score"] for line in lines) / samples
    row = {"shots": shots, "trials": [mean], "mean": mean, "stddev": 0.0, "ci95": [mean - 1, mean + 1], "n": samples}
    RunRecord(config={"demos": "random", "seed": seed}, results={"vqav2": [row]}).save(out)  # type: ignore[list-item]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=2_000, help="demo images")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="runs (seeds 0, 1, ...)")
    parser.add_argument("--keep", type=Path, help="copy the report here (e.g. to open it in a browser)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        paths = [write_run(root, f"run{r}", args.samples, args.pool, args.shots, seed=r) for r in range(args.runs)]
        print(f"wrote {args.runs} run(s) of {args.samples} samples in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        built = build_report([load_run(p) for p in paths], root / "report.html")
        seconds = time.perf_counter() - start
        if args.keep:
            shutil.copyfile(built.path, args.keep)
    stats = built.stats
    print(f"report: {built.bytes / 1e6:.1f} MB in {seconds:.1f} s ({stats.samples} samples, {stats.media} media,")
    print(f"        {stats.thumbnails} thumbnails, not embedded: {dict(stats.not_embedded) or 'none'})")


if __name__ == "__main__":
    main()
