"""fseval's evaluation speed on a synthetic workload, each optimisation against the run without it.

Writes a synthetic VQAv2 (original file layout, 640x480 JPEGs, 4 questions per image, questions of
varied length) and runs the real ``fseval.run.runner.run`` loop on random-weight OpenFlamingo models:

- ``tiny``: ``fseval make-tiny`` (CPU), at 4 and 32 shots: vision-encoder calls per query;
- ``small``: ViT-B/32 + a 110M-parameter GPT-NeoX LM, cross-attention every 2nd layer (CPU), at 8
  shots: all optimisations on, all off, and all on but one, for each one;
- ``3b`` / ``9b``: OpenFlamingo-3B- and 9B-shaped (ViT-L/14 + MPT-1B / MPT-7B shapes), on CUDA
  only (skipped without it): fp32 with everything off against bf16 with everything on;

then times the ranking of the 1000 ImageNet class names after an 8-shot ImageNet prompt against
one greedy generation (5 new tokens) of the same prompt. Every run is a fresh subprocess, so its
peak memory and caches are its own. Prints one table per part (and ``--json`` writes them).

With ``--decode``, also one decoding step's memory traffic and a prefill/decode sweep over batch
sizes (``benchmarks/decode.py``: TFLOP/s, MFU, ms per step, GB/s).

Run: python benchmarks/perf.py                       # tiny + small on CPU, ~10 minutes on 2 cores
     python benchmarks/perf.py --configs small --decode-only --decode-batches 8,32   # CPU, ~5 minutes
     python benchmarks/perf.py --configs 3b,9b        # the GPU shapes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Optimisations, each switchable: OpenFlamingoSettings fields and fseval.run.prefetch.PipelineOptions fields.
OPTIMISATIONS = (
    "media_cache", "shared_media_kv", "beam_prefill_once", "static_kv_cache", "own_decoding_loop", "group_by_length",
    "prefetch", "packed_rank",
)  # fmt: skip
ALL_ON = dict.fromkeys(OPTIMISATIONS, True)
ALL_OFF = dict.fromkeys(OPTIMISATIONS, False)

MODELS: dict[str, dict[str, Any]] = {
    "tiny": {"kind": "make_tiny"},
    "small": {
        "vision": "ViT-B-32",
        "lm": ("GPTNeoXConfig", {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                 "intermediate_size": 3072, "rotary_pct": 0.25, "max_position_embeddings": 2048,
                                 "tie_word_embeddings": False}),
        "vocab": 16384, "every": 2,
    },
    "3b": {
        "vision": "ViT-L-14",
        "lm": ("MptConfig", {"d_model": 2048, "n_heads": 16, "n_layers": 24, "expansion_ratio": 4,
                             "max_seq_len": 2048}),
        "vocab": 50432, "every": 1,
    },
    "9b": {
        "vision": "ViT-L-14",
        "lm": ("MptConfig", {"d_model": 4096, "n_heads": 32, "n_layers": 32, "expansion_ratio": 4,
                             "max_seq_len": 2048}),
        "vocab": 50432, "every": 4,
    },
}  # fmt: skip
GPU_CONFIGS = ("3b", "9b")

WORDS = [
    "man", "woman", "dog", "cat", "table", "kitchen", "street", "bus", "train", "plate", "pizza", "people", "car",
    "sign", "tree", "grass", "water", "sky", "boy", "girl", "bench", "bicycle", "horse", "umbrella", "phone",
    "laptop", "chair", "window", "shirt", "hat", "ball", "frisbee", "surfboard", "snow", "beach", "room", "wall",
]  # fmt: skip
COLORS = ["red", "blue", "green", "white", "black", "yellow", "brown", "orange", "pink", "gray"]


# -- synthetic data --------------------------------------------------------------------------------
def _image(rng: random.Random, path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(600), rng.randrange(440)
        w, h = rng.randrange(20, 300), rng.randrange(20, 300)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(rng.randrange(256) for _ in range(3)))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)


def _question(rng: random.Random) -> tuple[str, str]:
    words = [rng.choice(WORDS) for _ in range(rng.randrange(2, 18))]
    answer = " ".join(rng.choice(COLORS) for _ in range(rng.randrange(1, 3)))
    return f"What is the {' '.join(words)} doing here?", answer


def write_vqav2(root: Path, train_images: int, val_images: int, per_image: int = 4, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for split, n_images, first in (("train2014", train_images, 1), ("val2014", val_images, 100001)):
        questions, annotations = [], []
        for image_id in range(first, first + n_images):
            _image(rng, root / split / f"COCO_{split}_{image_id:012d}.jpg")
            for k in range(per_image):
                question, answer = _question(rng)
                qid = image_id * 10 + k
                questions.append({"image_id": image_id, "question": question, "question_id": qid})
                answers = [{"answer": answer, "answer_confidence": "yes", "answer_id": i + 1} for i in range(10)]
                annotations.append({"question_id": qid, "image_id": image_id, "answers": answers,
                                    "multiple_choice_answer": answer, "question_type": "what",
                                    "answer_type": "other"})  # fmt: skip
        (root / f"v2_OpenEnded_mscoco_{split}_questions.json").write_text(json.dumps({"questions": questions}))
        (root / f"v2_mscoco_{split}_annotations.json").write_text(json.dumps({"annotations": annotations}))
    return root


def write_tokenizer(directory: Path, vocab_size: int) -> Path:
    """A byte-level BPE trained on class names and question text (real tokenizers cannot be downloaded)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from fseval.data.classification import class_names

    rng = random.Random(0)
    names = class_names("imagenet_classnames.txt")
    corpus = [f"Output:{n}" for n in names] + [" ".join(_question(rng)) for _ in range(4000)]
    corpus += [" ".join(rng.choice(WORDS + COLORS + names) for _ in range(30)) for _ in range(4000)]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    eos = "<|endoftext|>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=eos, eos_token=eos, unk_token=eos)
    fast.save_pretrained(directory)
    return directory


# -- models ------------------------------------------------------------------------------------------
def build_adapter(config: str, work: Path, device: str, precision: str) -> Any:
    """A random-weight OpenFlamingo of the configuration's shape, wrapped in the fseval adapter."""
    import torch

    from fseval.models.openflamingo import OpenFlamingoAdapter, load_model_dir

    if MODELS[config].get("kind") == "make_tiny":
        return load_model_dir(work / "tiny", device=device, precision=precision)
    import open_clip
    import transformers

    from fseval.models.openflamingo.flamingo import Flamingo
    from fseval.models.openflamingo.loader import load_tokenizer, resize_embeddings
    from fseval.models.openflamingo.settings import OpenFlamingoSettings
    from fseval.models.settings import torch_dtype

    spec = MODELS[config]
    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(work / "tokenizer"))
    with torch.device(device):  # random weights drawn where they will run: a 7B LM initialises in seconds on a GPU
        clip, _, transform = open_clip.create_model_and_transforms(spec["vision"], pretrained=None)
        visual = clip.visual
        visual.output_tokens = True
        config_name, fields = spec["lm"]
        lm_config = getattr(transformers, config_name)(vocab_size=spec["vocab"], **fields)
        lm = transformers.AutoModelForCausalLM.from_config(lm_config)
        resize_embeddings(lm, max(spec["vocab"], len(tokenizer)))
        model = Flamingo(
            visual,
            lm,
            eoc_token_id=tokenizer.convert_tokens_to_ids("<|endofchunk|>"),
            media_token_id=tokenizer.convert_tokens_to_ids("<image>"),
            vis_dim=visual.transformer.width,
            cross_attn_every_n_layers=spec["every"],
        )
    for layer in model.layers:
        if layer.gated_cross_attn_layer is not None:  # gates open, so that images matter
            torch.nn.init.uniform_(layer.gated_cross_attn_layer.attn_gate, 0.5, 1.0)
            torch.nn.init.uniform_(layer.gated_cross_attn_layer.ff_gate, 0.5, 1.0)
    model.to(device=device, dtype=torch_dtype(precision)).eval().requires_grad_(False)
    settings = OpenFlamingoSettings(
        vision_encoder=spec["vision"], vision_pretrained=None, lm=f"random {spec['lm'][0]} ({config})",
        tokenizer=str(work / "tokenizer"), cross_attn_every_n_layers=spec["every"],
    )  # fmt: skip
    return OpenFlamingoAdapter(model, tokenizer, transform, settings, precision=precision, device=device, name=config)


def configure(adapter: Any, switches: dict[str, bool]) -> None:
    """The adapter's settings with the model's switches of ``switches`` (the others are the pipeline's)."""
    adapter.settings = adapter.settings.model_copy(
        update={
            "media_cache": switches["media_cache"],
            "shared_media_kv": switches["shared_media_kv"],
            "beam_prefill_once": switches["beam_prefill_once"],
            "static_kv_cache": switches["static_kv_cache"],
            "decoding_loop": "fseval" if switches["own_decoding_loop"] else "transformers",
            "rank_strategy": "packed" if switches["packed_rank"] else "chunked",
        }
    )
    adapter.profile = True


def _peak_memory(device: str) -> float:
    """GiB: the CUDA allocator's peak on GPU, the process's peak resident set on CPU."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# -- one measured run (a subprocess) -----------------------------------------------------------------
def worker_run(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from fseval.config import RunConfig
    from fseval.record import read_samples
    from fseval.run.prefetch import PipelineOptions, Stopwatch
    from fseval.run.runner import GivenModel, no_progress, run

    work, device, switches = Path(job["work"]), job["device"], job["switches"]
    torch.manual_seed(0)
    adapter = build_adapter(job["config"], work, device, job["precision"])
    configure(adapter, switches)
    stopwatch = Stopwatch()
    pipeline = PipelineOptions(
        group_by_length=switches["group_by_length"], prefetch=switches["prefetch"], stopwatch=stopwatch
    )
    output = Path(tempfile.mkdtemp(prefix="fseval-perf-run-"))
    config = RunConfig(
        tasks=("vqav2",), model=job["config"], shots=(job["shots"],), data_dir=str(work / "vqav2"),
        output=output, limit=job["limit"], batch_size=job["batch_size"], device=device, precision=job["precision"],
        group_by_length=switches["group_by_length"], prefetch=switches["prefetch"],
    )  # fmt: skip
    run(config, no_progress, GivenModel(adapter), pipeline=pipeline)
    lines = read_samples(output)
    generations = [line.generation for line in lines]
    stages = adapter.stage_seconds
    compute = stages["vision"] + stages["prefill"] + stages["decode"]
    wall = stopwatch.seconds["evaluate"]
    return {
        "samples": len(lines),
        "wall": wall,
        "samples_per_s": len(lines) / wall,
        "data": stopwatch.seconds["data"] + stages["preprocess"],
        "vision": stages["vision"],
        "prefill": stages["prefill"],
        "decode": stages["decode"],
        "scoring": stopwatch.seconds["scoring"],
        "vision_per_query": adapter.counters["vision_images"] / len(lines),
        "peak_gib": _peak_memory(device),
        "compute_fraction": compute / wall,
        "predictions": hashlib.sha256(json.dumps(generations).encode()).hexdigest()[:12],
    }


def worker_rank(job: dict[str, Any]) -> dict[str, Any]:
    """Seconds to rank the 1000 ImageNet class names vs one greedy generation, same 8-shot prompt."""
    import torch
    from PIL import Image

    from fseval.data.classification import class_names
    from fseval.types import GenerationSettings, Media, Prompt

    work, device = Path(job["work"]), job["device"]
    adapter = build_adapter(job["config"], work, device, job["precision"])
    configure(adapter, ALL_ON)
    names = class_names("imagenet_classnames.txt")
    images = sorted((work / "vqav2" / "train2014").glob("*.jpg"))[:9]
    media = tuple(Media(str(p), (Image.open(p).convert("RGB"),)) for p in images)
    demos = "".join(f"<image>Output:{names[i * 97]}<|endofchunk|>" for i in range(8))
    prompt = Prompt(demos + "<image>Output:", media)
    greedy = GenerationSettings(max_new_tokens=5, num_beams=1)

    def timed(call: Any, repeats: int = 1, warm_up: bool = True) -> tuple[float, Any]:
        if warm_up:
            call()  # media now cached, as for every query after the first
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            result = call()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / repeats, result

    out: dict[str, Any] = {"generate_s": timed(lambda: adapter.generate([prompt], greedy), 3)[0]}
    prefill_before = adapter.stage_seconds["prefill"]
    timed(lambda: adapter.generate([prompt], greedy), warm_up=False)
    prefill_s = adapter.stage_seconds["prefill"] - prefill_before
    tokens = adapter.tokenizer(names, add_special_tokens=False)["input_ids"]
    out["candidate_tokens"] = sum(len(t) for t in tokens)
    out["fed_tokens"] = sum(len(t) - 1 for t in tokens if t)  # a candidate's last token is never fed
    out["prompt_tokens"] = len(adapter.tokenizer(prompt.text)["input_ids"])
    # The least ranking can take: the prompt pass plus every fed token at the prompt pass's per-token speed.
    out["floor_s"] = prefill_s * (1 + out["fed_tokens"] / out["prompt_tokens"])
    out["floor_ratio"] = out["floor_s"] / out["generate_s"]
    reference = None
    for label, strategy, size in job["rank_variants"]:
        adapter.settings = adapter.settings.model_copy(update={"rank_strategy": strategy})
        adapter.rank_batch_size = size
        # The media are already cached. The packed pass is warmed up (its first call also pays for
        # faulting in its buffers, as only the first batch of a run does); the slow variants are not.
        seconds, ranked = timed(lambda: adapter.rank([prompt], [names]), warm_up=strategy == "packed")
        scores = ranked[0]
        top = max(range(len(names)), key=lambda j: sum(scores[j]) / max(1, len(scores[j])))
        reference = reference if reference is not None else top
        out[label] = {"seconds": seconds, "ratio": seconds / out["generate_s"], "same_top1": top == reference}
    out["peak_gib"] = _peak_memory(device)
    return out


def worker_decode(job: dict[str, Any]) -> dict[str, Any]:
    """Decode-step traffic and the prefill/decode sweep of ``benchmarks/decode.py``."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import decode

    work, device = Path(job["work"]), job["device"]
    torch.manual_seed(0)
    adapter = build_adapter(job["config"], work, device, job["precision"])
    configure(adapter, ALL_ON)
    prompts = decode.eight_shot_prompts(work, max(32, *job["decode_batches"]))
    return {
        "traffic": decode.traffic(adapter, prompts[:32]),
        "sweep": decode.sweep(adapter, prompts, job["decode_batches"], device),
    }


def spawn(job: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- tables --------------------------------------------------------------------------------------------
RUN_COLUMNS = (
    ("samples/s", "samples_per_s", "{:.3f}"),
    ("wall s", "wall", "{:.1f}"),
    ("data", "data", "{:.1f}"),
    ("vision", "vision", "{:.1f}"),
    ("prefill", "prefill", "{:.1f}"),
    ("decode", "decode", "{:.1f}"),
    ("scoring", "scoring", "{:.2f}"),
    ("enc/query", "vision_per_query", "{:.2f}"),
    ("peak GiB", "peak_gib", "{:.2f}"),
    ("compute", "compute_fraction", "{:.0%}"),
)


def run_table(rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> str:
    header = ["config", *(c[0] for c in RUN_COLUMNS), "speedup", "same preds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, result, baseline in rows:
        cells = [label, *(fmt.format(result[key]) for _, key, fmt in RUN_COLUMNS)]
        if baseline is None:
            cells += ["1.00x", "-"]
        else:
            cells += [
                f"{result['samples_per_s'] / baseline['samples_per_s']:.2f}x",
                "yes" if result["predictions"] == baseline["predictions"] else "no",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--configs", default="tiny,small,3b,9b")
    parser.add_argument("--limit", type=int, default=32, help="queries per run of the small/GPU configs")
    parser.add_argument("--tiny-limit", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-rank", action="store_true", help="skip the ImageNet ranking timing")
    parser.add_argument("--rank-only", action="store_true", help="only the ImageNet ranking timing")
    parser.add_argument("--decode", action="store_true", help="also decode-step traffic and the prefill/decode sweep")
    parser.add_argument("--decode-only", action="store_true", help="only decode-step traffic and the sweep")
    parser.add_argument("--decode-batches", default="8,32,64", help="batch sizes of the prefill/decode sweep")
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        worker = worker_rank if job.get("rank_variants") else worker_decode if job.get("decode_batches") else worker_run
        print(json.dumps(worker(job)))
        return
    report = Bench(args).measure()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


class Bench:
    """The tables main prints: each config's runs, then the ranking timings."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args = args
        configs = [c.strip() for c in args.configs.split(",") if c.strip()]
        cuda = torch.cuda.is_available()
        for config in [c for c in configs if c in GPU_CONFIGS and not cuda]:
            print(f"skipping {config}: needs CUDA, none available")
        self.configs = [c for c in configs if c not in GPU_CONFIGS or cuda]
        self.work = args.work_dir or Path(tempfile.mkdtemp(prefix="fseval-perf-"))
        self.report: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(), "tables": {}}

    def measure(self) -> dict[str, Any]:
        self.prepare()
        if self.args.decode or self.args.decode_only:
            for config in [c for c in self.configs if c != "tiny"]:
                self.decode(config)
            if self.args.decode_only:
                return self.report
        if not self.args.rank_only:
            if "tiny" in self.configs:
                self.tiny()
            if "small" in self.configs:
                self.small()
            for config in [c for c in self.configs if c in GPU_CONFIGS]:
                self.gpu(config)
        if not self.args.no_rank:
            for config in [c for c in self.configs if c != "tiny"] or self.configs[:1]:
                self.rank(config)
        return self.report

    def prepare(self) -> None:
        work, args = self.work, self.args
        if not (work / "vqav2").exists():
            write_vqav2(work / "vqav2", train_images=32, val_images=max(args.limit, args.tiny_limit) // 4 + 1)
        if not (work / "tokenizer").exists():
            write_tokenizer(work / "tokenizer", 16384)
        if "tiny" in self.configs and not (work / "tiny").exists():
            from fseval.models.openflamingo import make_tiny

            make_tiny(work / "tiny")
        print(f"workload: synthetic VQAv2 in {work} (demo pool: 32 train images x 4 questions; 640x480 JPEGs)")

    def job(
        self, config: str, shots: int, switches: dict[str, bool], device: str = "cpu", precision: str = "fp32"
    ) -> dict[str, Any]:
        limit = self.args.tiny_limit if config == "tiny" else self.args.limit
        return {"work": str(self.work), "config": config, "shots": shots, "switches": switches, "device": device,
                "precision": precision, "limit": limit, "batch_size": self.args.batch_size}  # fmt: skip

    def table(self, name: str, heading: str, rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> None:
        print(heading)
        print(table := run_table(rows))
        self.report["tables"][name] = {"markdown": table, "rows": rows}

    def tiny(self) -> None:
        rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for shots in (4, 32):
            off = spawn(self.job("tiny", shots, ALL_OFF))
            on = spawn(self.job("tiny", shots, ALL_ON))
            rows += [(f"tiny {shots}-shot, all off", off, None), (f"tiny {shots}-shot, all on", on, off)]
        args = self.args
        self.table(
            "tiny", f"\ntiny (CPU), {args.tiny_limit} VQAv2 queries per run, batch {args.batch_size}, 3 beams\n", rows
        )

    def small(self) -> None:
        off, on = spawn(self.job("small", 8, ALL_OFF)), spawn(self.job("small", 8, ALL_ON))
        rows = [("small 8-shot, all off", off, None), ("small 8-shot, all on", on, off)]
        for name in OPTIMISATIONS[:-1]:  # packed_rank is measured by the ranking table
            rows.append((f"all on but {name}", spawn(self.job("small", 8, {**ALL_ON, name: False})), on))
        heading = (
            f"\nsmall (CPU), {self.args.limit} VQAv2 queries at 8 shots, batch {self.args.batch_size}, 3 beams\n"
            "('speedup' and 'same preds' compare with the row's baseline: all off, or all on)\n"
        )
        self.table("small", heading, rows)

    def gpu(self, config: str) -> None:
        off = spawn(self.job(config, 8, ALL_OFF, "cuda", "fp32"))
        fp32 = spawn(self.job(config, 8, ALL_ON, "cuda", "fp32"))
        bf16 = spawn(self.job(config, 8, ALL_ON, "cuda", "bf16"))
        rows = [(f"{config} fp32, all off", off, None), (f"{config} fp32, all on", fp32, off)]
        rows.append((f"{config} bf16, all on", bf16, off))
        self.table(config, f"\n{config} (CUDA), {self.args.limit} VQAv2 queries at 8 shots\n", rows)

    def decode(self, config: str) -> None:
        sys.path.insert(0, str(Path(__file__).parent))
        import decode

        device, precision = ("cuda", "bf16") if config in GPU_CONFIGS else ("cpu", "fp32")
        batches = [int(b) for b in self.args.decode_batches.split(",")]
        result = spawn({**self.job(config, 8, ALL_ON, device, precision), "decode_batches": batches})
        print(f"\ndecoding, {config} ({device}, {precision})\n")
        print(table := decode.table(result))
        self.report["tables"][f"decode-{config}"] = {"markdown": table, "result": result}

    def rank(self, config: str) -> None:
        variants = [("packed", "packed", None), ("chunked_64", "chunked", 64), ("one_at_a_time", "chunked", 1)]
        device, precision = ("cuda", "bf16") if config in GPU_CONFIGS else ("cpu", "fp32")
        result = spawn({**self.job(config, 8, ALL_ON, device, precision), "rank_variants": variants})
        lines = [
            f"\nImageNet ranking, {config} ({device}, {precision}): 8-shot prompt of {result['prompt_tokens']} "
            f"tokens, 1000 class names = {result['candidate_tokens']} tokens; one greedy generation "
            f"(5 tokens) of the same prompt: {result['generate_s']:.3f} s. Candidate tokens fed to the model: "
            f"{result['fed_tokens']}; at the prompt pass's speed per token they need at least "
            f"{result['floor_s']:.2f} s ({result['floor_ratio']:.1f}x)\n",
            "| ranking | seconds | x greedy generation | same top-1 |",
            "|---|---|---|---|",
        ]
        for label, _, _ in variants:
            r = result[label]
            same = "yes" if r["same_top1"] else "no"
            lines.append(f"| {label} | {r['seconds']:.2f} | {r['ratio']:.1f}x | {same} |")
        print(table := "\n".join(lines))
        self.report["tables"][f"rank-{config}"] = {"markdown": table, "result": result}


if __name__ == "__main__":
    main()
