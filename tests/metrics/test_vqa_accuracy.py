"""VQA accuracy against the official definitions, quirks included."""

from __future__ import annotations

import pytest

from fseval.metrics import get_metric
from fseval.metrics.vqa import vqa_accuracy
from fseval.metrics.vqa_normalize import normalize_answer, process_punctuation

# (input, normalised) for each step of the official script's normalisation.
NORMALISATION = [
    ("yes", "yes"),
    ("Yes", "yes"),  # lowercased in processDigitArticle
    ("two", "2"),  # number words
    ("none", "0"),
    ("ten dogs", "10 dogs"),
    ("eleven", "eleven"),  # only none/zero..ten are mapped
    ("a dog", "dog"),  # articles
    ("the an a", ""),
    ("dont", "don't"),  # contractions
    ("its", "its"),  # not in the table
    ("Im", "im"),  # capitalised keys can never match after lowercasing
    ("1,000", "1000"),  # digit,digit: every mark is deleted
    ("red,blue", "red blue"),  # otherwise a mark not touching a space becomes a space
    ("red, blue", "red blue"),  # a mark touching a space is deleted
    ("3.5", "3.5"),  # a period followed by a digit stays
    ("end.", "end"),  # other periods go
    ("10:00", "10:00"),  # colons are kept
    ("it's", "it's"),  # apostrophes are kept
    ("well-known", "well known"),
    ("(a) cat!", "cat"),
    ("x" + "." * 40, "x" + "." * 8),  # re.UNICODE passed as count: at most 32 periods deleted
]


@pytest.mark.parametrize(("text", "expected"), NORMALISATION)
def test_official_normalisation(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_punctuation_tests_look_at_the_original_text() -> None:
    # "-" does not touch a space, but the "?" does: each mark decides on its own.
    assert process_punctuation("a-b ?") == "a b "


TEN_YES = ["yes"] * 10

# (prediction, answers, variant, expected accuracy)
ACCURACY = [
    ("yes", TEN_YES, "vqav2", 1.0),
    ("Yes", TEN_YES, "vqav2", 0.0),  # all identical: the official script does not normalise
    ("yes.", TEN_YES, "vqav2", 0.0),
    (" yes\n", TEN_YES, "vqav2", 1.0),  # whitespace is always cleaned
    ("Yes", TEN_YES, "openflamingo", 1.0),  # OpenFlamingo always normalises
    ("Yes", TEN_YES, "textvqa", 1.0),
    ("Yes", TEN_YES, "vizwiz", 1.0),
    ("Two", ["2"] * 9 + ["3"], "vqav2", 1.0),  # not identical, so both sides are normalised
    ("3", ["2"] * 9 + ["3"], "vqav2", 0.3),  # one annotator: 9 subsets with it (1/3), one without
    ("3", ["2"] * 8 + ["3"] * 2, "vqav2", 0.6),
    ("3", ["2"] * 7 + ["3"] * 3, "vqav2", 0.9),
    ("3", ["2"] * 6 + ["3"] * 4, "vqav2", 1.0),
    ("4", ["2"] * 6 + ["3"] * 4, "vqav2", 0.0),
    ("1,000", ["1000"] * 5 + ["1 000"] * 5, "vqav2", 1.0),
    ("the dog", ["dog"] * 5 + ["a dog"] * 5, "vqav2", 1.0),
    ("dont know", ["don't know"] * 4 + ["no"] * 6, "vqav2", 1.0),
    ("McDonald's", ["mcdonald's"] * 4 + ["mcdonalds"] * 6, "vqav2", 1.0),
    ("McDonald's", ["mcdonald's"] * 4 + ["mcdonalds"] * 6, "textvqa", 1.0),  # 's split on both sides
    ("red,blue", ["red blue"] * 4 + ["x"] * 6, "vqav2", 1.0),
    ("red,blue", ["red blue"] * 4 + ["x"] * 6, "textvqa", 0.0),  # "," deleted first: "redblue"
    # Python 2's regexes (the VQAv2 script) see no digit in "١,٢": the comma becomes a space.
    ("١,٢ red/blue", ["١٢ redblue"] * 5 + ["١ ٢ red blue"] * 5, "vqav2", 1.0),
    ("١,٢ red/blue", ["١٢ redblue"] * 5 + ["x"] * 5, "vqav2", 0.0),
    ("١,٢ red/blue", ["١٢ redblue"] * 5 + ["x"] * 5, "openflamingo", 1.0),  # Python 3: digit,digit
    ("Red", ["Red"] * 4 + ["red"] * 6, "vizwiz", 1.0),  # prediction lowercased, answers compared raw
    ("red", ["Red"] * 4 + ["x"] * 6, "vizwiz", 0.0),
]


@pytest.mark.parametrize(("prediction", "answers", "variant", "expected"), ACCURACY)
def test_vqa_accuracy(prediction: str, answers: list[str], variant: str, expected: float) -> None:
    assert vqa_accuracy(prediction, answers, variant) == pytest.approx(expected, abs=1e-12)


def test_openflamingo_dict_comparison_quirk_without_answer_ids() -> None:
    """Answers without answer_id (OpenFlamingo's VizWiz files) are equal dicts, so leaving one
    annotator out drops every identical answer: 4 identical answers score (6/10) * 1 instead of 1."""
    answers = ["cat"] * 4 + ["dog"] * 6
    no_ids = ['{"answer_confidence": "yes"}'] * 10
    with_ids = [f'{{"answer_id": {i}}}' for i in range(10)]
    assert vqa_accuracy("cat", answers, "openflamingo", no_ids) == pytest.approx(0.6)
    assert vqa_accuracy("cat", answers, "openflamingo", with_ids) == pytest.approx(1.0)
    assert vqa_accuracy("cat", answers, "vqav2") == pytest.approx(1.0)
    # All ten identical: every subset is empty, so even the right answer scores 0.
    assert vqa_accuracy("yes", TEN_YES, "openflamingo", no_ids) == 0.0


def test_openflamingo_quirk_sees_normalised_answers() -> None:
    # "a cat" and "cat" become equal dicts after normalisation.
    answers = ["a cat", "cat", "cat", "dog", "dog", "dog", "dog", "dog", "dog", "dog"]
    meta = ["{}"] * 10
    assert vqa_accuracy("cat", answers, "openflamingo", meta) == pytest.approx(0.7 * 1.0)


def test_aggregate_is_percent_mean_of_per_sample() -> None:
    metric = get_metric("vqa_accuracy")
    result = metric.score(["3", "yes"], [{"answers": ["2"] * 9 + ["3"]}, {"answers": TEN_YES}], "vqav2")
    assert result.per_sample == pytest.approx([0.3, 1.0])
    assert result.value == pytest.approx(65.0)


def test_unknown_variant_is_a_clear_error() -> None:
    from fseval.errors import FsevalError

    with pytest.raises(FsevalError, match="no variant 'nope'"):
        get_metric("vqa_accuracy").check_variant("nope")
