"""Classification by likelihood ranking: top-k accuracy (ImageNet) and ROC AUC of P(yes) (Hateful Memes).

ROC AUC equals scikit-learn's ``roc_auc_score``, which OpenFlamingo's ``evaluate.py`` calls, on cases
recorded with scikit-learn itself (``scripts/make_roc_auc_fixture.py``, run in its own venv).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fseval.errors import FsevalError
from fseval.metrics.classification import roc_auc, score_accuracy, score_roc_auc
from fseval.types import Ranked

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_auc" / "roc_auc_cases.json"


def test_roc_auc_equals_scikit_learn() -> None:
    record = json.loads(OFFICIAL.read_text(encoding="utf-8"))
    assert record["function"] == "sklearn.metrics.roc_auc_score" and len(record["cases"]) >= 10
    for case in record["cases"]:
        labels = [bool(label) for label in case["labels"]]
        assert roc_auc(labels, case["scores"]) == pytest.approx(case["roc_auc"], abs=1e-12), case["labels"][:6]


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([True, False], [0.9, 0.1], 1.0),  # the positive ranked first
        ([True, False], [0.1, 0.9], 0.0),  # ranked last
        ([True, False], [0.5, 0.5], 0.5),  # a tie counts one half
        ([True, True, False, False], [0.8, 0.4, 0.4, 0.1], 0.875),  # 3 wins and 1 tie of 4 pairs
    ],
)
def test_roc_auc_by_hand(labels: list[bool], scores: list[float], expected: float) -> None:
    assert roc_auc(labels, scores) == expected


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(FsevalError, match="all 3 scored samples are positive"):
        roc_auc([True, True, True], [0.1, 0.2, 0.3])


def ranked(**scores: float) -> Ranked:
    return Ranked.from_scores(scores)


def test_hateful_memes_scores_p_yes_as_the_softmax_of_the_two_answers() -> None:
    predictions = [ranked(yes=-1.0, no=-2.0), ranked(yes=-3.0, no=-1.0), ranked(yes=-2.0, no=-2.5)]
    targets = [{"label": "yes"}, {"label": "no"}, {"label": "no"}]
    result = score_roc_auc(predictions, targets, "default")
    p_yes = [1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(2.0)), 1 / (1 + math.exp(-0.5))]
    assert predictions[0].probability("yes") == pytest.approx(p_yes[0])
    # The positive (0.731) outranks both negatives (0.119, 0.622): AUC 1; top-1 is right for 2 of 3.
    assert result.value == 100.0 and result.per_sample == [1.0, 1.0, 0.0]
    assert result.extra["accuracy"] == pytest.approx(200 / 3)


def test_imagenet_compares_class_names_so_a_duplicated_name_counts_for_either_index() -> None:
    # ImageNet has two classes named "crane" (a bird and a machine): OpenFlamingo compares names.
    predictions = [
        ranked(crane=-0.5, heron=-1.0),
        ranked(heron=-0.2, crane=-0.9),
        ranked(**{f"c{i}": -i for i in range(7)}),
    ]
    targets = [{"label": "crane"}, {"label": "crane"}, {"label": "c4"}]
    result = score_accuracy(predictions, targets, "default")
    assert result.per_sample == [1.0, 0.0, 0.0]
    assert result.extra == {"top1": pytest.approx(100 / 3), "top5": pytest.approx(300 / 3)}


def test_ranking_metrics_refuse_generated_text() -> None:
    with pytest.raises(FsevalError, match="need ranked candidates"):
        score_accuracy(["crane"], [{"label": "crane"}], "default")
    with pytest.raises(FsevalError, match="2 predictions for 1 samples"):
        score_accuracy([ranked(a=0.0), ranked(a=0.0)], [{"label": "a"}], "default")
