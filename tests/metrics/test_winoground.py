"""Winoground's text, image and group scores against the release's compute_statistics.py
(``scripts/make_winoground_fixture.py``) and on hand-made cases: ties, incomplete examples, the bootstrap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fseval.errors import DataError, FsevalError
from fseval.metrics import get_metric
from fseval.metrics.breakdown import breakdown
from fseval.metrics.winoground import read_model_scores
from fseval.types import MediaRef, Ranked, Sample

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_winoground" / "winoground_cases.json"
FIXTURE = json.loads(OFFICIAL.read_text())
METRIC = get_metric("winoground")
GROUPS = ("collapsed_tag", "num_main_preds", "secondary_tag")


def split(examples: list[dict[str, Any]]) -> list[Sample]:
    """The two samples of each example, as the loader makes them (without images)."""
    samples = []
    for example in examples:
        for image in (0, 1):
            fields = {
                **{k: v for k, v in example.items() if k != "id"},
                "example_id": example["id"],
                "id": f"{example['id']}_i{image}",
                "image": image,
                "caption": example[f"caption_{image}"],
                "captions": (example["caption_0"], example["caption_1"]),
            }
            samples.append(Sample(fields["id"], (MediaRef(key="x"),), fields))
    return samples


def scored(scores: list[tuple[float, float, float, float]]) -> tuple[list[Ranked], list[dict[str, Any]]]:
    """Predictions and targets of examples given as s(c0,i0), s(c0,i1), s(c1,i0), s(c1,i1)."""
    examples = [{"id": i, "caption_0": f"a{i} b", "caption_1": f"b a{i}"} for i in range(len(scores))]
    predictions, targets = [], []
    for sample, (c0_i0, c0_i1, c1_i0, c1_i1) in zip(split(examples)[::2], scores, strict=True):
        c0, c1 = sample.fields["captions"]
        predictions += [Ranked.from_scores({c0: c0_i0, c1: c1_i0}), Ranked.from_scores({c0: c0_i1, c1: c1_i1})]
        targets += [sample.fields, {**sample.fields, "image": 1, "id": f"{sample.fields['example_id']}_i1"}]
    return predictions, targets


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_equals_compute_statistics_overall_and_per_tag(tmp_path: Path, name: str) -> None:
    case = FIXTURE["cases"][name]
    path = tmp_path / "model.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in case["lines"]))
    samples = split(FIXTURE["examples"])
    found = read_model_scores(path, samples)
    assert found is not None
    predictions, targets = [found[s.id] for s in samples], [s.fields for s in samples]
    for variant in ("text", "image", "group"):
        outcome = METRIC.score(predictions, targets, variant)
        assert outcome.value == pytest.approx(case["overall"][variant], abs=1e-9)
        groups = breakdown(METRIC, predictions, targets, variant, GROUPS)
        for field, members in case["by"].items():
            for value, official in members.items():
                assert groups[field][value].value == pytest.approx(official[variant], abs=1e-9), (field, value)


# s(c0,i0), s(c0,i1), s(c1,i0), s(c1,i1) -> text, image, group correct; '>' is strict: a tie is wrong.
HAND_MADE = [
    ((2, 1, 1, 2), (True, True, True)),
    ((2, 1, 0, 1), (False, True, False)),  # s(c1,i1) == s(c0,i1)
    ((1, 1, 0, 2), (True, False, False)),  # s(c0,i0) == s(c0,i1)
    ((1, 2, 0, 3), (True, False, False)),
    ((2, 1, 3, 4), (False, True, False)),
    ((0, 0, 0, 0), (False, False, False)),
    ((-1.5, -2.5, -3.0, -0.5), (True, True, True)),
    ((1, 2, 2, 1), (False, False, False)),  # every caption and image the other way round
]


@pytest.mark.parametrize(("scores", "expected"), HAND_MADE)
def test_each_example_by_the_definitions(scores: tuple[float, ...], expected: tuple[bool, bool, bool]) -> None:
    predictions, targets = scored([scores])  # type: ignore[list-item]
    values = tuple(METRIC.score(predictions, targets, v).value for v in ("text", "image", "group"))
    assert values == tuple(100.0 * e for e in expected)


def test_extras_per_sample_values_and_the_default_headline() -> None:
    predictions, targets = scored([s for s, _ in HAND_MADE])  # type: ignore[misc]
    outcome = METRIC.score(predictions, targets, METRIC.default_variant)
    assert METRIC.default_variant == "group" and not METRIC.per_sample_mean
    assert outcome.extra == {"group_score": 25.0, "text_score": 50.0, "image_score": 50.0, "incomplete": 0.0}
    # Per sample: 1 when its image ranks its own caption strictly first.
    assert outcome.per_sample[:4] == [1.0, 1.0, 1.0, 0.0]


def test_an_example_missing_one_image_is_left_out_and_counted() -> None:
    predictions, targets = scored([(2, 1, 1, 2), (0, 1, 1, 0), (0, 0, 0, 0)])
    outcome = METRIC.score(predictions[:3] + predictions[4:], targets[:3] + targets[4:], "group")
    assert outcome.value == 50.0 and outcome.extra["incomplete"] == 1.0
    assert len(outcome.per_sample) == 5
    # The bootstrap skips draws of the incomplete example's sample (index 2) and keeps 2 draws of the others.
    rows = np.asarray([[2, 2, 0, 2, 3], [0, 2, 1, 2, 4], [2] * 5])
    assert np.array_equal(outcome.resampler()(rows), [50.0, 100.0, np.nan], equal_nan=True)
    with pytest.raises(FsevalError, match="other image"):
        METRIC.score(predictions[:1], targets[:1], "group")


def test_the_bootstrap_resamples_examples() -> None:
    predictions, targets = scored([(2, 1, 1, 2), (0, 0, 0, 0), (2, 1, 1, 2), (0, 0, 0, 0)])
    resample = METRIC.score(predictions, targets, "group").resampler()
    rows = np.asarray([[0, 2, 4, 6, 1, 3, 5, 7], [1, 0, 5, 4, 3, 2, 7, 6], [0] * 8, [2, 3, 6, 7, 0, 1, 4, 5]])
    # Samples 2k and 2k + 1 are example k; a row's first 4 draws are 4 draws of examples.
    assert resample(rows).tolist() == [50.0, 100.0, 100.0, 0.0]


def test_a_prediction_without_both_captions_is_refused() -> None:
    predictions, targets = scored([(2, 1, 1, 2)])
    with pytest.raises(FsevalError, match="no score for the caption"):
        METRIC.score([Ranked(("a0 b",), (0.0,)), predictions[1]], targets, "group")
    with pytest.raises(FsevalError, match="mode: rank"):
        METRIC.score(["a0 b", predictions[1]], targets, "group")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"label": "0_c2_i0", "score": 1}', "is not '<example id>_c<0|1>_i<0|1>'"),
        ('{"label": "0_c0_i0", "score": "high"}', "is not a finite number"),
        ('{"label": "0_c0_i0"}', "has no field 'score'"),
        ('{"label": "9_c0_i0", "score": 1}\n{"label": "9_c1_i0", "score": 1}', "example 9 is not in"),
        ('{"label": "0_c0_i0", "score": 1}', "one caption only"),
    ],
)
def test_model_scores_files_are_checked_line_by_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "model.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataError, match=message) as error:
        read_model_scores(path, split(FIXTURE["examples"][:2]))
    assert str(path) in str(error.value)


def test_a_json_list_is_not_a_model_scores_file(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_text('[{"id": "0_i0", "scores": {}}]')
    assert read_model_scores(path, []) is None
