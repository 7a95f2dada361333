"""VL-ICL Bench's accuracies against its own evals/eval.py (tests/fixtures/vl_icl/official.json,
scripts/make_vl_icl_fixture.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fseval.errors import DataError
from fseval.metrics import get_metric, vl_icl
from fseval.types import Sample

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "vl_icl" / "official.json").read_text(encoding="utf-8"))
SCORES: dict[str, Any] = FIXTURE["scores"]

# Each dataset's metric and variant, as fseval's VL-ICL tasks score it.
METRIC_OF = {
    "textocr": ("vl_icl_exact_match", "text"),
    "clevr": ("vl_icl_exact_match", "text"),
    "open_mi": ("vl_icl_exact_match", "text"),
    "operator_induction": ("vl_icl_exact_match", "first_number"),
    "operator_induction_interleaved": ("vl_icl_exact_match", "first_number"),
    "matching_mi": ("vl_icl_yes_no", "default"),
}
CASES = [(dataset, case) for dataset, scored in SCORES.items() for case in scored["cases"]]


def test_the_fixture_covers_every_dataset() -> None:
    assert sorted(SCORES) == sorted(METRIC_OF)


@pytest.mark.parametrize(("dataset", "case"), CASES, ids=[f"{d}:{c['prediction']!r}" for d, c in CASES])
def test_each_case_as_official(dataset: str, case: dict[str, Any]) -> None:
    name, variant = METRIC_OF[dataset]
    result = get_metric(name).score([case["prediction"]], [{"answer": case["answer"]}], variant)
    assert result.per_sample == [case["score"]]


@pytest.mark.parametrize("dataset", sorted(METRIC_OF))
def test_each_dataset_as_official_x100(dataset: str) -> None:
    name, variant = METRIC_OF[dataset]
    cases = SCORES[dataset]["cases"]
    result = get_metric(name).score([c["prediction"] for c in cases], [{"answer": c["answer"]} for c in cases], variant)
    assert result.value == pytest.approx(100 * SCORES[dataset]["score"], abs=1e-9)
    assert result.per_sample == [c["score"] for c in cases]


@pytest.mark.parametrize(
    ("prediction", "cut"),
    [("  cat. dog", "cat"), ("cat \nx", "cat "), (".5", ".5"), ("3.5\nx", "3.5"), ("\n\nyes", "yes"), ("", "")],
)
def test_the_cut(prediction: str, cut: str) -> None:
    assert vl_icl.cut(prediction) == cut


def test_target_checks() -> None:
    exact, yes_no = get_metric("vl_icl_exact_match"), get_metric("vl_icl_yes_no")
    assert exact.check_target is not None and yes_no.check_target is not None
    assert exact.check_target({"answer": 12}) is None and exact.check_target({"answer": "dax"}) is None
    assert "string or an integer" in str(exact.check_target({"answer": [1, 2, 3]}))
    assert exact.check_target({"answer": True}) is not None
    assert yes_no.check_target({"answer": "Yes"}) is None
    assert "'yes' or 'no'" in str(yes_no.check_target({"answer": "maybe"}))


def test_unknown_variant() -> None:
    with pytest.raises(ValueError, match="unknown VL-ICL exact-match variant"):
        vl_icl.exact_match("1", 1, "digits")


def _samples(answers: list[Any]) -> list[Sample]:
    return [Sample(id=f"q{i}", media=(), fields={"answer": a}) for i, a in enumerate(answers)]


def test_official_results_file_is_read_by_position(tmp_path: Path) -> None:
    path = tmp_path / "llava16-7b_4-shot.json"
    path.write_text(json.dumps([{"question": "?", "answer": 3, "prediction": "3."}, {"answer": 5, "prediction": "x"}]))
    assert vl_icl.read_official_results(path, _samples([3, 5])) == {"q0": "3.", "q1": "x"}
    with pytest.raises(DataError, match="2 results, but the evaluation split has 3"):
        vl_icl.read_official_results(path, _samples([3, 5, 7]))
    with pytest.raises(DataError, match="item 1 has answer 5"):
        vl_icl.read_official_results(path, _samples([3, 6]))


def test_a_list_with_ids_is_not_an_official_results_file(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps([{"id": "q0", "prediction": "3"}]))
    assert vl_icl.read_official_results(path, _samples([3])) is None
