"""VisDial's NDCG, R@k, MRR and mean rank against the official visdialch/metrics.py (make_visdial_fixture.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from fseval.metrics import visdial
from fseval.metrics.visdial import ndcg, ranks, score_visdial
from fseval.types import Ranked

FIXTURE = Path(__file__).parents[1] / "fixtures" / "official_visdial" / "visdial_cases.json"
CASES = json.loads(FIXTURE.read_text())["cases"]
OPTIONS = [f"option {j}" for j in range(100)]


def rounds(case: dict[str, Any]) -> tuple[list[Ranked], list[dict[str, Any]]]:
    """One prediction per (image, round) holding the case's scores of the round's 100 options."""
    dense = {(item["image"], item["round_id"]): item["gt_relevance"] for item in case["dense"]}
    predictions, targets = [], []
    for image, (image_scores, answers) in enumerate(zip(case["scores"], case["gt_index"], strict=True)):
        for r, (scores, gt_index) in enumerate(zip(image_scores, answers, strict=True), start=1):
            predictions.append(Ranked.from_scores({o: float(s) for o, s in zip(OPTIONS, scores, strict=True)}))
            targets.append({"options": OPTIONS, "gt_index": gt_index, "gt_relevance": dense.get((image, r))})
    return predictions, targets


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_equals_official_metrics(case: dict[str, Any]) -> None:
    result = score_visdial(*rounds(case), "default")
    official = case["official"]
    assert result.value / 100 == pytest.approx(official["ndcg"], abs=1e-6)
    for name, key in (("R@1", "r@1"), ("R@5", "r@5"), ("R@10", "r@10"), ("MRR", "mrr")):
        assert result.extra[name] / 100 == pytest.approx(official[key], abs=1e-6)
    assert result.extra["mean rank"] == pytest.approx(official["mean"], abs=1e-5)  # float32 mean of ranks near 50
    assert result.extra["NDCG rounds"] == len(case["dense"])


def test_ranks_equal_torch_sort_ties_included(monkeypatch: pytest.MonkeyPatch) -> None:
    heapsorts = []
    real = visdial._heapsort
    monkeypatch.setattr(visdial, "_heapsort", lambda *args: heapsorts.append(1) or real(*args))
    rows = 0
    for case in CASES:
        for image_scores, image_ranks in zip(case["scores"], case["ranks"], strict=True):
            for scores, official in zip(image_scores, image_ranks, strict=True):
                assert ranks(scores) == official
                rows += 1
    assert rows == 250 and heapsorts  # the heapsort case reaches std::sort's fallback


def test_distinct_scores_rank_by_score() -> None:
    assert ranks([0.5, 1.0, 0.25, 0.75]) == [3, 1, 4, 2]


def test_ndcg_cases() -> None:
    assert ndcg([1, 2, 3], [1.0, 0.0, 0.0]) == 1.0
    assert ndcg([2, 1, 3], [1.0, 0.0, 0.0]) == pytest.approx(0.0)  # k = 1: only the top option counts
    assert ndcg([3, 2, 1], [0.5, 1.0, 0.0]) == pytest.approx((0.0 + 1.0 / math.log2(3)) / (1.0 + 0.5 / math.log2(3)))
    assert math.isnan(ndcg([1, 2], [0.0, 0.0]))  # the official 0 / 0


def test_resampler_is_ndcg_over_annotated_rounds() -> None:
    predictions, targets = rounds(CASES[2])
    result = score_visdial(predictions, targets, "default")
    import numpy as np

    assert result.resampler()(np.arange(len(targets))[None, :])[0] == pytest.approx(result.value)
    assert result.per_sample[0] == 1 / CASES[2]["ranks"][0][0][CASES[2]["gt_index"][0][0]]
