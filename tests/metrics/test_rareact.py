"""RareAct's mWAP and mSAP against its own compute_score.py (``scripts/make_rareact_fixture.py``) and by hand."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fseval.errors import FsevalError
from fseval.metrics import get_metric
from fseval.metrics.retrieval import Ranking, mean_sampled_ap, mean_weighted_ap, problems
from fseval.types import Ranked

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_rareact" / "rareact_cases.json"
CASES = json.loads(OFFICIAL.read_text())["cases"]


def seeded_scores(seed: int, rows: int, columns: int, levels: int) -> list[list[float]]:
    """The fixture script's score matrices: k / levels with k drawn from ``random.Random(seed)``, row by row."""
    rng = random.Random(seed)
    return [[rng.randint(0, levels) / levels for _ in range(columns)] for _ in range(rows)]


def matrix(case: dict[str, Any]) -> list[list[float]]:
    scores = case["scores"]
    if isinstance(scores, dict):
        return seeded_scores(scores["seed"], len(case["lines"]), scores["columns"], scores["levels"])
    return list(scores)


def samples(case: dict[str, Any]) -> tuple[list[Ranked], list[dict[str, Any]]]:
    """Each line as the loader makes it, and its row of the matrix as a ranking of every class."""
    labels = {line[4]: f"{line[5]} {line[6]}" for line in case["lines"]}
    targets = [
        {"video_id": str(line[1]), "verb": line[5], "noun": line[6], "annotation": line[7], "label": labels[line[4]]}
        for line in case["lines"]
    ]
    rows = matrix(case)
    predictions = [Ranked.from_scores({label: row[c] for c, label in labels.items()}) for row in rows]
    return predictions, targets


def test_the_fixture_covers_every_branch() -> None:
    annotations = {line[7] for case in CASES for line in case["lines"]}
    assert annotations == {0, 1, 2, 3, 4}
    assert any(case["mwap"] == 1.0 for case in CASES) and len(CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_mwap_equals_compute_score(case: dict[str, Any]) -> None:
    predictions, targets = samples(case)
    outcome = get_metric("mwap").score(predictions, targets, "default")
    assert outcome.value / 100 == pytest.approx(case["mwap"], abs=1e-6)
    assert outcome.resampler()(np.arange(len(targets))[None, :])[0] == pytest.approx(outcome.value, abs=1e-9)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_msap_equals_compute_score_given_its_draws(case: dict[str, Any]) -> None:
    predictions, targets = samples(case)
    actions = [(t["verb"], t["noun"]) for t in targets]
    classes, found = problems(actions, [t["annotation"] for t in targets], [t["video_id"] for t in targets])
    columns = [f"{verb} {noun}" for verb, noun in classes]
    scores = np.array([[dict(zip(p.labels, p.scores, strict=True))[c] for c in columns] for p in predictions])
    rankings = [Ranking.of(problem, scores) for problem in found]
    for sampled in case["msap"]:
        value = mean_sampled_ap(found, rankings, sampled["draws"], sampled["seed"])
        assert value == pytest.approx(sampled["value"], abs=1e-6), sampled
    default = next(s for s in case["msap"] if (s["draws"], s["seed"]) == (100, 0))
    assert get_metric("mwap").score(predictions, targets, "default").extra["mSAP"] / 100 == pytest.approx(
        default["value"], abs=1e-6
    )
    assert mean_weighted_ap(found, rankings, np.ones((1, len(targets))))[0] == pytest.approx(case["mwap"], abs=1e-6)


def hand_case(rows: list[tuple[str, str, int, float]]) -> tuple[list[Ranked], list[dict[str, Any]]]:
    """One class, "cut apple": (line's video, its class, annotation, score for cut apple); other classes score 0."""
    labels = sorted({label for _, label, _, _ in rows})
    predictions = [Ranked.from_scores({x: score if x == "cut apple" else 0.0 for x in labels}) for *_, score in rows]
    targets = [
        {"video_id": video, "verb": label.split()[0], "noun": label.split()[1], "annotation": a, "label": label}
        for video, label, a, _ in rows
    ]
    return predictions, targets


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # Two positive lines of one video weigh 1/2 each; thresholds 0.9 (P 1), 0.5 (a negative), 0.2 (P 1/2).
        ([("vA", "cut apple", 1, 0.9), ("vA", "cut apple", 1, 0.2), ("vB", "cut apple", 0, 0.5)], 0.5 * 1 + 0.5 * 0.5),
        # A tie of the positive with a negative is one threshold: P 1/2.
        ([("vA", "cut apple", 1, 0.5), ("vB", "cut apple", 0, 0.5)], 0.5),
        # A positive of "peel bread" (shares nothing) is a negative of cut apple, one of "cut bread" a hard negative,
        # and a line annotated 3 is a hard negative: each above the positive costs precision.
        ([("vA", "cut apple", 1, 0.1), ("vB", "peel bread", 1, 0.9), ("vC", "cut bread", 1, 0.0)], 0.5),
        ([("vA", "cut apple", 1, 0.1), ("vC", "cut bread", 1, 0.5), ("vD", "cut apple", 3, 0.7)], 1 / 3),
    ],
)
def test_cut_apple_by_hand(rows: list[tuple[str, str, int, float]], expected: float) -> None:
    predictions, targets = hand_case(rows)
    actions = [(t["verb"], t["noun"]) for t in targets]
    classes, found = problems(actions, [t["annotation"] for t in targets], [t["video_id"] for t in targets])
    columns = [f"{verb} {noun}" for verb, noun in classes]
    scores = np.array([[dict(zip(p.labels, p.scores, strict=True))[c] for c in columns] for p in predictions])
    (cut_apple,) = [p for p in found if columns[p.column] == "cut apple"]
    assert mean_weighted_ap([cut_apple], [Ranking.of(cut_apple, scores)], np.ones((1, len(rows))))[0] == expected


def test_a_bootstrap_draw_is_scored_as_the_csv_of_that_draw() -> None:
    """Lines drawn twice count twice (in their list and in their video's count), as in a csv repeating them."""
    case = next(case for case in CASES if case["name"] == "random 200 lines")
    predictions, targets = samples(case)
    outcome = get_metric("mwap").score(predictions, targets, "default")
    draws = np.random.default_rng(0).integers(0, len(targets), size=(3, len(targets)))
    for draw, value in zip(draws, outcome.resampler()(draws), strict=True):
        redrawn = get_metric("mwap").score([predictions[i] for i in draw], [targets[i] for i in draw], "default")
        assert value == pytest.approx(redrawn.value, abs=1e-9)


def test_predictions_without_every_class_score_are_refused() -> None:
    predictions, targets = samples(CASES[0])
    predictions[3] = Ranked(predictions[3].labels[:2], predictions[3].scores[:2])
    with pytest.raises(FsevalError, match="Prediction 3 holds scores for 2 of the 5 RareAct classes"):
        get_metric("mwap").score(predictions, targets, "default")
    predictions[3] = Ranked.from_scores({label: float("nan") for label in predictions[0].labels})
    with pytest.raises(FsevalError, match="not finite"):
        get_metric("mwap").score(predictions, targets, "default")


def test_no_positive_line_is_refused() -> None:
    predictions, targets = samples(CASES[0])
    negatives = [(p, t) for p, t in zip(predictions, targets, strict=True) if t["annotation"] != 1]
    with pytest.raises(FsevalError, match="needs a positive clip"):
        get_metric("mwap").score([p for p, _ in negatives], [t for _, t in negatives], "default")
