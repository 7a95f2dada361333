#!/usr/bin/env python3
"""fseval's Hateful Memes ROC AUC, with and without ``--compat openflamingo``, next to OpenFlamingo's own.

Run by hand from fseval's environment. OpenFlamingo runs in a second, throwaway venv with its
release-era libraries (the one ``scripts/make_reference_fixture.py`` describes) and a clone of its
repository at v2.0.1, whose ``open_flamingo/eval/models/open_flamingo.py`` the PyPI package lacks:

    git clone --branch 2.0.1 https://github.com/mlfoundations/open_flamingo /tmp/open_flamingo
    python scripts/compare_openflamingo_classification.py \\
        --openflamingo-python /tmp/of-ref/bin/python --open-flamingo-repo /tmp/open_flamingo

It writes a Hateful-Memes-format set (``train.jsonl``, ``dev_seen.jsonl``, ``img/``; 2,100 train
and 40 dev memes on fseval's shapes images, PNG), then evaluates the bundled ``tiny-shapes`` model
at 0 and 4 shots with ``--trial_seeds 42`` / ``--seed 42`` and OpenFlamingo's demo draws, at batch
sizes 1 and 4: OpenFlamingo's ``evaluate.py --eval_hateful_memes``, fseval's default and fseval's
``--compat openflamingo``. It prints a markdown table of ROC AUC x100.

Like for like: transformers 4.33 cannot read the tokenizer files transformers 5 wrote, so both
sides load a copy of the model whose ``tokenizer_config.json`` names ``PreTrainedTokenizerFast``
(the same tokenizer.json); and fseval runs with ``vision_token_ln=false``, the vision tokens open_clip
2.20 gives OpenFlamingo (tiny-shapes was trained on normed ones, so its scores are lower here than
with its own card). OpenFlamingo's ``evaluate.py`` runs on CPU with its DDP wrapper skipped and the
tiny vision tower's open_clip config registered; nothing else of it is changed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHOTS = (0, 4)
BATCH_SIZES = (1, 4)
SEED = 42
WORDS = [
    "look",
    "at",
    "this",
    "love",
    "that",
    "hate",
    "them",
    "funny",
    "day",
    "people",
    "never",
    "always",
    "friends",
    "cats",
    "dogs",
    "red",
    "blue",
]


def write_memes(root: Path, n_train: int = 2100, n_dev: int = 40) -> Path:
    """Hateful Memes' release layout on shapes images, labels and texts drawn with a fixed seed."""
    from PIL import Image

    from fseval.data.shapes import write_shapes

    shapes = write_shapes(root / "shapes", n_train=n_train, n_val=n_dev, seed=3)
    rng = random.Random(1)
    (root / "img").mkdir(parents=True, exist_ok=True)
    for name, folder, count in (("train.jsonl", "train2014", n_train), ("dev_seen.jsonl", "val2014", n_dev)):
        lines = []
        for path in sorted((shapes / folder).glob("*.jpg"))[:count]:
            meme_id = int(path.stem.split("_")[-1])
            Image.open(path).save(root / "img" / f"{meme_id:05d}.png")
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
            item = {"id": meme_id, "img": f"img/{meme_id:05d}.png", "text": text, "label": rng.randint(0, 1)}
            lines.append(json.dumps(item))
        (root / name).write_text("\n".join(lines) + "\n")
    shutil.rmtree(shapes)
    return root


def release_era_copy(model: Path, root: Path) -> Path:
    """tiny-shapes with tokenizer files transformers 4.33 / tokenizers 0.13 can read (the same tokenizer).

    transformers 5 names its own tokenizer class, and tokenizers >= 0.20 writes BPE merges as pairs
    and an ``ignore_merges`` field; the old reader wants "a b" strings and no unknown fields.
    """
    copy = root / "tiny-shapes"
    shutil.copytree(model, copy)
    config_path = copy / "lm" / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("backend", None)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2))
    tokenizer_path = copy / "lm" / "tokenizer.json"
    tokenizer = json.loads(tokenizer_path.read_text())
    bpe = tokenizer["model"]
    bpe.pop("ignore_merges", None)
    bpe["merges"] = [" ".join(pair) if isinstance(pair, list) else pair for pair in bpe["merges"]]
    tokenizer_path.write_text(json.dumps(tokenizer, ensure_ascii=False))
    return copy


def fseval_auc(model: Path, data: Path, out: Path, batch_size: int, compat: bool) -> dict[int, float]:
    command = [sys.executable, "-m", "fseval", "run", "--model", str(model), "--task", "hateful_memes"]
    command += ["--data-dir", str(data), "--shots", ",".join(map(str, SHOTS)), "--seed", str(SEED)]
    command += ["--demos", "openflamingo", "--batch-size", str(batch_size), "--device", "cpu", "-o", str(out)]
    command += ["--model-arg", "vision_token_ln=false"] + (["--compat", "openflamingo"] if compat else [])
    finished(subprocess.run(command, capture_output=True, text=True))
    rows = json.loads((out / "results.json").read_text())["results"]["hateful_memes"]
    return {row["shots"]: row["mean"] for row in rows}


def finished(process: subprocess.CompletedProcess[str]) -> None:
    if process.returncode != 0:
        sys.exit(f"{' '.join(map(str, process.args[:4]))} ... failed:\n{process.stderr[-4000:]}")


OPENFLAMINGO_RUNNER = """
import runpy, sys
import open_clip
repo, vision_config, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
open_clip.add_model_config(vision_config)
sys.path[:0] = [repo, repo + "/open_flamingo/eval"]
from open_flamingo.eval import eval_model
eval_model.BaseEvalModel.init_distributed = lambda self: None  # DDP takes no CPU device ids
sys.argv = ["evaluate.py", *argv]
runpy.run_path(repo + "/open_flamingo/eval/evaluate.py", run_name="__main__")
"""


def openflamingo_auc(python: str, repo: Path, model: Path, data: Path, out: Path, batch_size: int) -> dict[int, float]:
    card = json.loads((model / "fseval-model.json").read_text())["args"]
    results = out / f"openflamingo-b{batch_size}.json"
    argv = ["--model", "open_flamingo", "--eval_hateful_memes", "--shots", *map(str, SHOTS)]
    argv += ["--trial_seeds", str(SEED), "--num_trials", "1", "--batch_size", str(batch_size), "--num_samples", "-1"]
    argv += ["--hateful_memes_image_dir_path", str(data / "img")]
    argv += ["--hateful_memes_train_annotations_json_path", str(data / "train.jsonl")]
    argv += ["--hateful_memes_test_annotations_json_path", str(data / "dev_seen.jsonl")]
    argv += ["--results_file", str(results), "--dist-backend", "gloo", "--dist-url", "tcp://127.0.0.1:29517"]
    argv += ["--vision_encoder_path", card["vision_encoder"], "--vision_encoder_pretrained"]
    argv += [str(model / card["vision_pretrained"]), "--lm_path", str(model / "lm"), "--lm_tokenizer_path"]
    argv += [str(model / "lm"), "--checkpoint_path", str(model / "checkpoint.pt"), "--cross_attn_every_n_layers"]
    argv += [str(card["cross_attn_every_n_layers"]), "--precision", "fp32"]
    environment = {**os.environ, "PYTHONPATH": ""}
    vision_config = str(model / card["vision_config"])
    command = [python, "-c", OPENFLAMINGO_RUNNER, str(repo), vision_config, *argv]
    finished(subprocess.run(command, capture_output=True, text=True, cwd=out, env=environment))
    rows = json.loads(results.read_text())["hateful_memes"]
    return {row["shots"]: 100 * row["mean"] for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openflamingo-python", required=True, help="python of the release-era venv")
    parser.add_argument("--open-flamingo-repo", type=Path, required=True, help="open_flamingo clone at v2.0.1")
    parser.add_argument("--keep", type=Path, help="keep the data and runs in this folder")
    args = parser.parse_args()

    from fseval.resources import ASSETS_DIR

    root = Path(args.keep or tempfile.mkdtemp(prefix="fseval-of-compare-"))
    root.mkdir(parents=True, exist_ok=True)
    data = write_memes(root / "hateful_memes")
    model = release_era_copy(ASSETS_DIR / "tiny-shapes", root)
    rows: dict[str, dict[int, float]] = {}
    for batch_size in BATCH_SIZES:
        rows[f"OpenFlamingo, batch size {batch_size}"] = openflamingo_auc(
            args.openflamingo_python, args.open_flamingo_repo.resolve(), model, data, root, batch_size
        )
    for batch_size in BATCH_SIZES:
        rows[f"fseval --compat openflamingo, batch size {batch_size}"] = fseval_auc(
            model, data, root / f"compat-b{batch_size}", batch_size, compat=True
        )
    for batch_size in BATCH_SIZES:
        rows[f"fseval, batch size {batch_size}"] = fseval_auc(
            model, data, root / f"default-b{batch_size}", batch_size, compat=False
        )
    print("| ROC AUC x100 | " + " | ".join(f"{shots} shots" for shots in SHOTS) + " |")
    print("|---|" + "---|" * len(SHOTS))
    for label, scores in rows.items():
        print(f"| {label} | " + " | ".join(f"{scores[shots]:.2f}" for shots in SHOTS) + " |")
    (root / "table.json").write_text(json.dumps(rows, indent=2))
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
