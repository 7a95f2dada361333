"""The embedded shapes world and the tiny Flamingo trained on it (fseval/assets/shapes, fseval/assets/tiny-shapes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fseval.cli import app
from fseval.data.shapes import KARPATHY_FILE, write_shapes
from fseval.resources import PACKAGE_DIR

SHAPES_DIR = PACKAGE_DIR / "assets" / "shapes"
MODEL_DIR = PACKAGE_DIR / "assets" / "tiny-shapes"
JSON_FILES = (
    "v2_OpenEnded_mscoco_train2014_questions.json",
    "v2_OpenEnded_mscoco_val2014_questions.json",
    "v2_mscoco_train2014_annotations.json",
    "v2_mscoco_val2014_annotations.json",
    KARPATHY_FILE,
)
# The bundled model scored 70.27 (0 shots) and 69.37 (4 shots) on all 111 questions when it was
# trained; chance is about 25-33%. The margin absorbs other platforms' float rounding in beam search.
MIN_VQA_ACCURACY = 55.0

runner = CliRunner()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    one = _files(write_shapes(tmp_path / "a", n_train=6, n_val=3, seed=3))
    two = _files(write_shapes(tmp_path / "b", n_train=6, n_val=3, seed=3))
    assert one == two and len(one) == 6 + 3 + len(JSON_FILES)
    assert one != _files(write_shapes(tmp_path / "c", n_train=6, n_val=3, seed=4))


def test_bundled_world_is_the_generators_output(tmp_path: Path) -> None:
    fresh = write_shapes(tmp_path / "shapes")
    for name in JSON_FILES:
        assert (fresh / name).read_bytes() == (SHAPES_DIR / name).read_bytes(), name
    assert sorted(_files(fresh)) == sorted(_files(SHAPES_DIR))


def test_karpathy_file_matches_the_vqa_splits() -> None:
    images = json.loads((SHAPES_DIR / KARPATHY_FILE).read_text())["images"]
    for split, karpathy_split in (("train2014", "train"), ("val2014", "test")):
        questions = json.loads((SHAPES_DIR / f"v2_OpenEnded_mscoco_{split}_questions.json").read_text())
        ids = {q["image_id"] for q in questions["questions"]}
        assert ids == {im["cocoid"] for im in images if im["split"] == karpathy_split}
    assert all(len({s["raw"] for s in im["sentences"]}) == 5 for im in images)
    assert all((SHAPES_DIR / im["filepath"] / im["filename"]).is_file() for im in images)


def test_bundled_tokenizer_keeps_the_worlds_words_whole() -> None:
    from fseval.models.openflamingo.loader import load_tokenizer

    tokenizer = load_tokenizer(str(MODEL_DIR / "lm"))
    text = "<image>Question:What color is the triangle? Short answer:yellow<|endofchunk|>\n<image>Output:"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens.count("<image>") == 2 and tokens.count("<|endofchunk|>") == 1
    end = tokens.index("<|endofchunk|>")
    assert tokens[end - 3 : end] == ["Ġanswer", ":", "yellow"]  # the answer is one token after the colon
    assert {"What", "Ġcolor", "Ġtriangle", "ĠShort", "Ġanswer", "yellow"} <= set(tokens)
    caption = "an image of two red circles and a blue square."
    assert len(tokenizer(caption)["input_ids"]) == len(caption.split()) + 1


@pytest.mark.slow
def test_bundled_model_beats_chance_on_shapes_vqa(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--task", "shapes_vqa", "--shots", "0,4", "--model", str(MODEL_DIR), "--device", "cpu"]
    result = runner.invoke(app, [*args, "--batch-size", "16", "-o", str(out)])
    assert result.exit_code == 0, result.output
    entries = json.loads((out / "results.json").read_text())["results"]["shapes_vqa"]
    assert [e["shots"] for e in entries] == [0, 4]
    assert all(e["n"] == 111 and e["mean"] >= MIN_VQA_ACCURACY for e in entries), entries
