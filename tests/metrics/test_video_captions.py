"""VATEX's and YouCook2's caption metrics against pycocoevalcap's COCOEvalCap, and their benchmarks' results files.

The official numbers come from ``COCOEvalCap.evaluate()`` (SPICE aside) run on its own pinned stack by
``scripts/make_video_caption_fixture.py``; fseval's scores must equal them exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fseval.errors import DataError
from fseval.metrics import get_metric
from fseval.metrics.video_captions import read_densevid_results, read_vatex_results
from fseval.types import Sample

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_video_captions" / "cases.json"
NAMES = {"BLEU-1": "Bleu_1", "BLEU-2": "Bleu_2", "BLEU-3": "Bleu_3", "BLEU-4": "Bleu_4", "METEOR": "METEOR",
         "ROUGE-L": "ROUGE_L", "CIDEr": "CIDEr"}  # fmt: skip
METRIC = {"vatex": "vatex_caption", "youcook2": "youcook2_caption", "youcook2_one_step": "youcook2_caption"}


def official_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(OFFICIAL.read_text(encoding="utf-8"))["cases"]
    return cases


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer and METEOR need Java")
@pytest.mark.parametrize("case", official_cases(), ids=lambda case: case["name"])
def test_equals_coco_eval_cap(case: dict[str, Any]) -> None:
    targets = [{"references": references} for references in case["references"]]
    result = get_metric(METRIC[case["name"]]).score(case["predictions"], targets, "ptb")
    assert result.value == 100 * case["scores"]["CIDEr"]
    assert result.per_sample == case["per_image_cider"]
    assert {name: result.extra[name] for name in NAMES} == {
        ours: 100 * case["scores"][name] for ours, name in NAMES.items()
    }


def test_fixture_covers_both_shapes() -> None:
    cases = {case["name"]: case for case in official_cases()}
    assert {len(refs) for refs in cases["vatex"]["references"]} == {10}
    assert {len(refs) for refs in cases["youcook2"]["references"]} == {1}
    assert "" in cases["vatex"]["predictions"] and cases["youcook2_one_step"]["scores"]["CIDEr"] == 0.0


def test_aliases_share_the_caption_scorer() -> None:
    caption = get_metric("caption")
    for name in ("vatex_caption", "youcook2_caption"):
        metric = get_metric(name)
        assert metric.score is caption.score and metric.variants == caption.variants
        assert metric.environment is caption.environment and metric.headline == "CIDEr"
        assert metric.result_format.id_key == "image_id" and metric.result_format.native is not None


def step(youtube_id: str, step_id: int, start: float, end: float) -> Sample:
    fields = {"youtube_id": youtube_id, "segment": [start, end], "image_id": f"{youtube_id}_{step_id}"}
    return Sample(id=f"{youtube_id}_{step_id}", media=(), fields=fields)


STEPS = [step("GLd3aX16zBg", 0, 90.0, 102.0), step("GLd3aX16zBg", 1, 114.0, 127.0), step("xHr8X2Wpmno", 3, 5.0, 9.0)]


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def test_densevid_results_by_step(tmp_path: Path) -> None:
    results = {"GLd3aX16zBg": [{"sentence": "add cheese", "timestamp": [114, 127]},
                               {"sentence": "spread butter", "timestamp": [90.0, 102]}],
               "xHr8X2Wpmno": [{"sentence": "boil", "timestamp": [5, 9]}]}  # fmt: skip
    data = {"version": "VERSION 1.0", "results": results, "external_data": {"used": False, "details": ""}}
    predictions = read_densevid_results(write(tmp_path, data), STEPS)
    assert predictions == {"GLd3aX16zBg_1": "add cheese", "GLd3aX16zBg_0": "spread butter", "xHr8X2Wpmno_3": "boil"}


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"GLd3aX16zBg": [{"sentence": "x", "timestamp": [90, 101]}]}, r"timestamp \[90, 101\], which is no annotated"),
        ({"nope": [{"sentence": "x", "timestamp": [1, 2]}]}, "that video is not in the evaluation split"),
        ({"GLd3aX16zBg": [{"timestamp": [90, 102]}]}, r"results\['GLd3aX16zBg'\]\[0\] has no field 'sentence'"),
        ({"GLd3aX16zBg": [{"sentence": "x", "timestamp": "90-102"}]}, "'timestamp' should be"),
        ({"GLd3aX16zBg": [{"sentence": "x", "timestamp": [90, 102]}] * 2}, "twice"),
        ({"GLd3aX16zBg": {"sentence": "x"}}, "should be a list"),
    ],
)
def test_densevid_results_errors_name_the_entry(tmp_path: Path, results: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_densevid_results(write(tmp_path, {"results": results}), STEPS)


def test_other_files_are_not_densevid_or_vatex(tmp_path: Path) -> None:
    listed = write(tmp_path, [{"image_id": "GLd3aX16zBg_0", "caption": "x"}])
    assert read_densevid_results(listed, STEPS) is None and read_vatex_results(listed, []) is None
    assert read_densevid_results(write(tmp_path, {"GLd3aX16zBg_0": "x"}), STEPS) is None


def test_vatex_results_by_video_id(tmp_path: Path) -> None:
    path = write(tmp_path, {"nJ6KPT1uwe8_000047_000057": "a woman carves a pumpkin"})
    assert read_vatex_results(path, []) == {"nJ6KPT1uwe8_000047_000057": "a woman carves a pumpkin"}
    with pytest.raises(DataError, match=r"the caption of 'a' should be a string, not \['x'\]"):
        read_vatex_results(write(tmp_path, {"a": ["x"]}), [])
