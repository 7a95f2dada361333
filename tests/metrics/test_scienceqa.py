"""ScienceQA accuracy against the release's own ``get_scores`` (scripts/make_scienceqa_fixture.py), and its cases."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from fseval.errors import DataError
from fseval.metrics import get_metric
from fseval.metrics.breakdown import breakdown
from fseval.metrics.scienceqa import load_results, score_scienceqa
from fseval.types import Ranked, Sample

FIXTURE = Path(__file__).parents[1] / "fixtures" / "official_scienceqa" / "scienceqa_cases.json"
CASES = json.loads(FIXTURE.read_text())["cases"]
OFFICIAL_NAMES = {
    "NAT": "acc_natural",
    "SOC": "acc_social",
    "LAN": "acc_language",
    "TXT": "acc_has_text",
    "IMG": "acc_has_image",
    "NO": "acc_no_context",
    "G1-6": "acc_grade_1_6",
    "G7-12": "acc_grade_7_12",
}


def chosen(choices: list[str], index: int) -> Ranked:
    return Ranked.from_scores({c: 0.0 if i == index else -1.0 for i, c in enumerate(choices)})


def targets_of(problem: dict[str, Any]) -> dict[str, Any]:
    return {**problem, "label": problem["choices"][problem["answer"]]}


def official_string(value: float | None) -> str:
    """How get_scores writes a group's accuracy: 2 decimals, or -1 for an empty group."""
    return "-1" if value is None else f"{value:.2f}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{len(c['results'])} problems")
def test_groups_equal_the_official_get_scores(case: dict[str, Any]) -> None:
    test = {pid: p for pid, p in case["problems"].items() if p["split"] == "test"}
    targets = [targets_of(p) for p in test.values()]
    predictions = [chosen(p["choices"], case["results"][pid]) for pid, p in test.items()]
    result = score_scienceqa(predictions, targets, "default")
    official = case["scores"]
    assert official_string(result.value) == official["acc_average"]
    assert {name: official_string(result.extra.get(name)) for name in OFFICIAL_NAMES} == {
        name: official[key] for name, key in OFFICIAL_NAMES.items()
    }
    topics = breakdown(get_metric("scienceqa_accuracy"), predictions, targets, "default", ["topic"])["topic"]
    listed = {key[4:] for key in official} - {key[4:] for key in OFFICIAL_NAMES.values()} - {"average"}
    assert len(listed) == 26
    assert {t: official_string(topics[t].value if t in topics else None) for t in listed} == {
        t: official[f"acc_{t}"] for t in listed
    }


def test_definition_cases() -> None:
    targets = [
        {"label": "a", "choices": ["a", "b"], "subject": "natural science", "hint": "h", "image": "image.png"},
        {"label": "b", "choices": ["a", "b"], "subject": "social science", "hint": "", "image": None},
        {"label": "c", "choices": ["c", "d"], "subject": "natural science", "hint": "", "image": "image.png"},
    ]
    targets = [{**t, "grade": f"grade{3 * i + 1}", "topic": "x"} for i, t in enumerate(targets)]
    predictions = [chosen(["a", "b"], 0), chosen(["a", "b"], 0), chosen(["c", "d"], 0)]
    result = score_scienceqa(predictions, targets, "default")
    assert result.per_sample == [1.0, 0.0, 1.0] and math.isclose(result.value, 200 / 3)
    assert result.extra == {"NAT": 100.0, "SOC": 0.0, "TXT": 100.0, "IMG": 100.0, "NO": 0.0, "G1-6": 50.0, "G7-12": 100}


def samples_of(case: dict[str, Any]) -> list[Sample]:
    return [
        Sample(id=pid, media=(), fields=targets_of(p)) for pid, p in case["problems"].items() if p["split"] == "test"
    ]


def test_results_file_is_read_and_outside_problems_are_left_out(tmp_path: Path) -> None:
    case = CASES[0]
    samples = samples_of(case)[:5]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"acc": 0.0, "results": case["results"]}))
    found = load_results(path, samples)
    assert found is not None and list(found) == [s.id for s in samples]
    assert all(found[s.id].top == s.fields["choices"][case["results"][s.id]] for s in samples)
    path.write_text(json.dumps([{"pid": "7", "answer": "x"}]))
    assert load_results(path, samples) is None


def test_a_choice_index_out_of_range_is_refused(tmp_path: Path) -> None:
    sample = samples_of(CASES[0])[0]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": {sample.id: len(sample.fields["choices"])}}))
    with pytest.raises(DataError, match=rf"results\['{sample.id}'\] should be a choice index"):
        load_results(path, [sample])
