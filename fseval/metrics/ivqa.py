"""iVQA accuracy as Just Ask scores it (Yang et al., ICCV 2021; github.com/antoyang/just-ask).

Each iVQA question has five annotators' answers. ``train/train_videoqa.py``'s ``eval`` scores a question
``min(1, n / 2)``, n the number of annotators who gave the predicted answer (``VideoQADataset`` counts them,
``eval`` halves and clips, ``util.compute_aggreeings`` takes the predicted answer's value): an answer two
annotators agree on is fully right, one only one gave is half right. The headline is the mean over
questions (x100 here; Just Ask logs it as a percentage).

Facts of that code kept here:

- Answers are compared with the prediction as strings, exactly: no case folding, no trimming, no
  normalisation (pandas keeps a cell's surrounding spaces).
- The CSV is read with pandas, which turns empty cells and its default missing-value strings (``NA``,
  ``null``, ``nan``, ``N/A`` ... the ``PANDAS_NA`` of pandas 1.1.1, the version Just Ask pins) into NaN:
  such an answer matches nothing.
- Just Ask's models choose among a vocabulary of the training answers given at least twice; a generative
  model's answer is free text, so fseval has no vocabulary: its score equals Just Ask's for any prediction
  that is in the vocabulary, which is every answer Just Ask's models can give.
- fseval strips whitespace around the model's answer (the post-processed generation); nothing else.

``tests/metrics/test_ivqa.py`` checks all of it against Just Ask's own code run on edge cases
(``scripts/make_ivqa_fixture.py``).

Variants: ``official`` (default), as above; ``vqa``: the prediction and the answers both normalised with the
VQA script's answer normalisation (lowercase, punctuation, articles, number words) before counting, for
generative models whose answers differ from the annotators' in form only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fseval.errors import FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.vqa_normalize import clean_whitespace, normalize_answer

VARIANTS = ("official", "vqa")

# pandas 1.1.1's default ``na_values`` (pandas._libs.parsers.STR_NA_VALUES), recorded in the fixture.
PANDAS_NA = frozenset(
    ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
     "NULL", "NaN", "n/a", "nan", "null")
)  # fmt: skip

IVQA_ANSWERS = formats.ResultFormat(
    "question_id",
    formats.text("answer"),
    '[{"question_id": the question\'s row in the CSV (0 for the first), "answer"}]',
)


def _vqa(text: str) -> str:
    return normalize_answer(clean_whitespace(text))


def ivqa_accuracy(prediction: str, answers: Sequence[str], variant: str = "official") -> float:
    """``min(1, annotators who gave the prediction / 2)``; answers pandas reads as missing count for nobody."""
    given = [answer for answer in answers if answer not in PANDAS_NA]
    prediction = prediction.strip()
    if variant == "vqa":
        prediction, given = _vqa(prediction), [_vqa(answer) for answer in given]
    elif variant != "official":
        raise ValueError(f"unknown iVQA accuracy variant {variant!r}")
    return min(1.0, sum(answer == prediction for answer in given) / 2)


@register_metric(
    "ivqa_accuracy",
    variants=VARIANTS,
    default_variant="official",
    target_fields=("answers",),
    result_format=IVQA_ANSWERS,
    check_target=lambda fields: formats.non_empty_strings(fields, "answers"),
    description="iVQA accuracy (Just Ask): min(1, annotators of 5 who gave the answer / 2), exact strings; x100.",
)
def score_ivqa(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} questions.")
    per_sample = [ivqa_accuracy(p, t["answers"], variant) for p, t in zip(predictions, targets, strict=True)]
    value = 100 * sum(per_sample) / len(per_sample) if per_sample else float("nan")
    return MetricResult(value=value, per_sample=per_sample)
