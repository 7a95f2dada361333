"""How long and how much memory reading VQAv2-size release files takes, against Python's own ``json.load``.

Writes synthetic VQAv2 files in the original format (``v2_OpenEnded_mscoco_{train,val}2014_questions.json``
and ``v2_mscoco_{train,val}2014_annotations.json``, 10 answers per question, answer texts drawn from a
skewed vocabulary as in the real files), by default at the real sizes (214,354 val and 443,757 train
questions: 170 MB and 350 MB of annotations), and keeps them for the next run. Then, in one process:

- the floor: ``json.load`` of the four files, all kept (what holding the release in Python costs), as
  Python runs it and with its cycle collector paused (as fseval's readers pause it);
- fseval: ``load_task_data`` of the ``vqav2`` task (evaluation split and demo pool, with every check),
  without and with ``limit=8`` (``fseval run --limit 8``).

Time is measured first, without tracing (best of ``--repeat``), with the resident memory (RSS) before the
step and its peak during it (``VmHWM``, reset through ``/proc/self/clear_refs``): whole-process figures, the
interpreter included, and memory an earlier step freed may be reused without showing. The memory figures
compared are from a second pass under ``tracemalloc``: the most bytes Python's allocators held at once during
the step (the file's text, the parsed objects, the samples), above what was held before it, and what is still
held with its result. (Under tracemalloc the process's RSS means nothing: it stores a trace per allocation.)

    python benchmarks/data_loading.py                    # real size; ~2 minutes to write the files once
    python benchmarks/data_loading.py --scale 0.1        # a tenth of it, to iterate
    python benchmarks/data_loading.py --data-dir /tmp/vqav2 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import io
import json
import pstats
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import load_task_data

VAL_QUESTIONS, TRAIN_QUESTIONS = 214_354, 443_757
FORMAT_VERSION = 1  # bump when the written files change, so that cached copies are rewritten
FILES = {
    split: (f"v2_OpenEnded_mscoco_{split}2014_questions.json", f"v2_mscoco_{split}2014_annotations.json")
    for split in ("val", "train")
}
QUESTION_TYPES = {
    "yes/no": ["is the", "is this", "are the", "does the", "is there a", "are there", "can you", "do you", "is it"],
    "number": ["how many", "how many people are", "what number is", "how many people are in"],
    "other": ["what", "what color is the", "what is the", "what is", "where is the", "what kind of", "why", "who is",
              "what type of", "what is the man", "which", "what sport is", "what room is", "what animal is"],
}  # fmt: skip
NOUNS = [
    "man", "woman", "dog", "cat", "bus", "train", "plate", "table", "shirt", "sign",
    "car", "pizza", "bird", "horse", "clock", "kite", "boat", "bed", "sky", "field",
]  # fmt: skip
WORDS = [f"{a}{b}" for a in ("ba", "ko", "mi", "te", "ru", "sa", "lo", "vi", "ne", "da") for b in NOUNS] + NOUNS


def vocabulary(rng: random.Random) -> dict[str, list[str]]:
    other = [" ".join(rng.sample(WORDS, rng.choice((1, 1, 1, 2, 2, 3)))) for _ in range(6000)]
    return {"yes/no": ["yes", "no"], "number": [str(n) for n in range(21)], "other": other}


def draw_answer(rng: random.Random, choices: list[str]) -> str:
    # Zipf-like: a few answers make most of the file, as "yes", "no", "2", "white" do in VQAv2.
    return choices[min(int(rng.paretovariate(1.1)) - 1, len(choices) - 1)]


def write_split(folder: Path, split: str, count: int, rng: random.Random, vocab: dict[str, list[str]]) -> None:
    questions, annotations = [], []
    image_id = rng.randrange(1, 100)
    while len(questions) < count:
        image_id += rng.randrange(1, 14)
        for k in range(min(rng.choice((3, 4, 5, 5, 6, 6, 7, 8)), count - len(questions))):
            answer_type = rng.choices(("yes/no", "number", "other"), (38, 12, 50))[0]
            question_type = rng.choice(QUESTION_TYPES[answer_type])
            qid = image_id * 1000 + k
            text = f"{question_type.capitalize()} {rng.choice(NOUNS)} {rng.choice(WORDS)}?"
            questions.append({"image_id": image_id, "question": text, "question_id": qid})
            main = draw_answer(rng, vocab[answer_type])
            answers = []
            for n in range(10):
                roll = rng.random()
                answer = main if roll < 0.7 else draw_answer(rng, vocab[answer_type]) if roll < 0.97 else text[:20]
                confidence = "yes" if roll < 0.85 else "maybe" if roll < 0.95 else "no"
                answers.append({"answer": answer, "answer_confidence": confidence, "answer_id": n + 1})
            annotations.append(
                {"question_type": question_type, "multiple_choice_answer": main, "answers": answers,
                 "image_id": image_id, "answer_type": answer_type, "question_id": qid}
            )  # fmt: skip
    info = {"info": {"description": "synthetic VQAv2-size data"}, "license": {}, "data_subtype": f"{split}2014"}
    questions_file, annotations_file = FILES[split]
    (folder / questions_file).write_text(json.dumps({**info, "task_type": "Open-Ended", "questions": questions}))
    (folder / annotations_file).write_text(json.dumps({**info, "annotations": annotations}))
    (folder / f"{split}2014").mkdir(exist_ok=True)  # fseval checks that the image folder exists


def ensure_files(folder: Path, val: int, train: int, seed: int = 0) -> Path:
    """The four files under ``folder``, written unless a previous run left them there at the same sizes."""
    marker = folder / "written.json"
    wanted = {"version": FORMAT_VERSION, "val": val, "train": train, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    for split, count in (("val", val), ("train", train)):
        write_split(folder, split, count, rng, vocab)
    marker.write_text(json.dumps(wanted))
    print(f"wrote the files in {time.perf_counter() - started:.0f} s")
    return folder


def json_floor(folder: Path, collect: bool = True) -> list[Any]:
    """Python's own ``json.load`` of the four files, all kept; ``collect=False`` pauses the cycle collector,
    as fseval's readers do, for a floor without its walks over the objects parsed so far."""
    loaded = []
    if not collect:
        gc.disable()
    try:
        for name in (*FILES["val"], *FILES["train"]):
            with (folder / name).open(encoding="utf-8") as f:
                loaded.append(json.load(f))
    finally:
        gc.enable()
    return loaded


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` figure (Linux) in MB, NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def timed(step: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """Best wall time of ``repeat`` runs; the resident memory before the first and its peak during it (MB)."""
    best, rss_before, rss_peak = float("inf"), float("nan"), float("nan")
    for run in range(repeat):
        gc.collect()
        if run == 0:
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)
            rss_before = status_mb("VmRSS")
        started = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - started)
        if run == 0:
            rss_peak = status_mb("VmHWM")
        del result
    return best, rss_before, rss_peak


def traced(step: Callable[[], Any]) -> tuple[float, float]:
    """The most bytes Python's allocators held at once during the step, and those still held with its result
    (MB, above what was held before it)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = step()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return (peak - base) / 2**20, (held - base) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="where to write (and find) the files; default: a temp folder")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real sizes (default 1)")
    parser.add_argument("--val", type=int, help=f"val questions (default {VAL_QUESTIONS:,} x scale)")
    parser.add_argument("--train", type=int, help=f"train questions (default {TRAIN_QUESTIONS:,} x scale)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per step; the best counts")
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top functions of fseval's load")
    args = parser.parse_args()
    val = args.val or round(VAL_QUESTIONS * args.scale)
    train = args.train or round(TRAIN_QUESTIONS * args.scale)
    folder = args.data_dir or Path(tempfile.gettempdir()) / f"fseval-vqav2-{val}-{train}"
    ensure_files(folder, val, train)
    megabytes = sum((folder / name).stat().st_size for names in FILES.values() for name in names) / 1e6
    (task,) = load_tasks(["vqav2"])
    for module in ("fseval.metrics", "fseval.tasks.prompts"):  # or the first load imports them, timed with it
        importlib.import_module(module)

    steps: dict[str, Callable[[], Any]] = {
        "json.load, 4 files (floor)": lambda: json_floor(folder),
        "json.load, cycle collector off": lambda: json_floor(folder, collect=False),
        "fseval load_task_data": lambda: load_task_data(task, str(folder)),
        "fseval, limit=8": lambda: load_task_data(task, str(folder), limit=8),
    }
    times = {name: timed(step, args.repeat) for name, step in steps.items()}
    memory = {name: traced(step) for name, step in steps.items()}

    print(f"\n$ python {' '.join(sys.argv)}")
    print(f"VQAv2-size files: {val:,} val + {train:,} train questions, {megabytes:,.0f} MB in {folder}")
    floor_time, floor_peak = times[next(iter(steps))][0], memory[next(iter(steps))][0]
    header = (
        f"{'step':<32}{'time s':>8}{'x floor':>8}{'peak MB':>9}{'x floor':>8}{'held MB':>9}"
        f"{'RSS before':>11}{'RSS peak':>10}"
    )
    print(header + "\n" + "-" * len(header))
    for name in steps:
        (seconds, rss_before, rss_peak), (peak, held) = times[name], memory[name]
        print(
            f"{name:<32}{seconds:>8.2f}{seconds / floor_time:>8.2f}{peak:>9,.0f}{peak / floor_peak:>8.2f}"
            f"{held:>9,.0f}{rss_before:>11,.0f}{rss_peak:>10,.0f}"
        )
    print(
        "time: best of --repeat. peak/held MB: tracemalloc, a second pass: the most Python held at once during the\n"
        "step / still held with its result, above what was held before. RSS before/peak MB: VmRSS before the first\n"
        "timed run and VmHWM during it (the interpreter included; memory freed by an earlier step may be reused).\n"
        "x floor: against the first row. Target: fseval's load at most 2x its time and 1.5x its peak memory."
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(load_task_data, task, str(folder))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
