"""Open-ended video QA (MSRVTT-QA, MSVD-QA): exact match with the one answer, after VQA answer normalisation."""

from __future__ import annotations

import pytest

from fseval.metrics.exact_match import exact_match, score_exact_match


@pytest.mark.parametrize(
    ("prediction", "answer", "vqa", "exact"),
    [
        ("man", "man", 1.0, 1.0),
        (" man ", "man", 1.0, 1.0),  # surrounding whitespace never counts
        ("Man", "man", 1.0, 0.0),  # lowercased by the VQA normalisation
        ("a man", "man", 1.0, 0.0),  # articles dropped
        ("two", "2", 1.0, 0.0),  # number words to digits
        ("dont", "don't", 1.0, 0.0),  # the official contraction table
        ("man.", "man", 1.0, 0.0),  # a period not followed by a digit is removed
        ("2.5", "25", 0.0, 0.0),  # ... but a decimal point stays
        ("men", "man", 0.0, 0.0),  # no stemming: another word
        ("", "man", 0.0, 0.0),
    ],
)
def test_exact_match_variants(prediction: str, answer: str, vqa: float, exact: float) -> None:
    assert exact_match(prediction, answer, "vqa") == vqa
    assert exact_match(prediction, answer, "exact") == exact


def test_a_question_scores_0_or_1_and_the_task_their_mean_x100() -> None:
    result = score_exact_match(["A man", "two", "cat"], [{"answer": "man"}, {"answer": "2"}, {"answer": "dog"}], "vqa")
    assert result.per_sample == [1.0, 1.0, 0.0] and result.value == pytest.approx(200 / 3)


def test_unknown_variant() -> None:
    with pytest.raises(ValueError, match="unknown exact-match variant"):
        exact_match("a", "a", "fuzzy")
