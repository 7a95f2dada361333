"""make_tiny: deterministic, fast, in the released layout, with a usable tokenizer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fseval.models.openflamingo import make_tiny
from fseval.models.openflamingo.tiny import build_tokenizer


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path: Path, of_tiny_dir: Path) -> None:
    start = time.perf_counter()
    again = make_tiny(tmp_path / "again")
    assert time.perf_counter() - start < 5
    assert file_bytes(again) == file_bytes(of_tiny_dir)
    other = make_tiny(tmp_path / "other", seed=1)
    assert file_bytes(other)["checkpoint.pt"] != file_bytes(of_tiny_dir)["checkpoint.pt"]


def test_card(of_tiny_dir: Path) -> None:
    card = json.loads((of_tiny_dir / "fseval-model.json").read_text())
    assert card["family"] == "openflamingo"
    arguments = card["args"]
    assert set(card["paths"]) >= {"lm", "checkpoint", "vision_pretrained", "vision_config"}
    assert arguments["lm"] == "lm" and arguments["checkpoint"] == "checkpoint.pt"
    for key in ("vision_pretrained", "vision_config", "lm", "checkpoint"):
        assert (of_tiny_dir / arguments[key]).exists()


@pytest.mark.parametrize(
    "text",
    [
        "Question:What is the man holding? Short answer:a tennis racket",
        "Output:Two zebras grazing near a watering hole, 3 giraffes!",
        "is an image with: 'don't panic' written on it. Is it hateful? Answer:",
    ],
)
def test_tokenizer_round_trips_english(text: str) -> None:
    tokenizer = build_tokenizer()
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text)  # merges were learned: not one token per byte


def test_special_tokens_after_loading(of_tiny) -> None:
    tok = of_tiny.tokenizer
    assert {"<|endofchunk|>", "<image>", "<PAD>"} <= set(tok.all_special_tokens)
    assert tok.convert_tokens_to_ids(["<|endofchunk|>", "<image>", "<PAD>"]) == [400, 401, 402]
    assert tok.pad_token == "<PAD>" and tok.padding_side == "left"
    assert tok("<image>Output:", add_special_tokens=False).input_ids[0] == 401


@pytest.mark.parametrize("lm_family", ["mosaic_gpt", "llama"])
def test_other_families(tmp_path: Path, lm_family: str, make_media) -> None:
    from fseval.models.openflamingo import load_model_dir
    from fseval.types import GenerationSettings, Prompt

    adapter = load_model_dir(make_tiny(tmp_path, lm_family=lm_family))
    prompt = Prompt("<image>Output:", (make_media("a", 0),))
    assert len(adapter.generate([prompt], GenerationSettings(max_new_tokens=3, num_beams=2))) == 1
    assert len(adapter.rank([prompt], [["a cat"]])[0]) == 1
