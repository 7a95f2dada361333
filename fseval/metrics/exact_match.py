"""Open-ended video QA accuracy: exact match of the answer, as MSRVTT-QA and MSVD-QA are scored.

Xu et al. 2017 released one answer per question and scored top-1 accuracy over a fixed answer
vocabulary (their classifiers could only output vocabulary words). A generative model's answer is
free text, so, as Flamingo-style evaluations do for open-ended VQA, both the prediction and the answer
are normalised with the official VQA script's answer normalisation (``vqa_normalize``: punctuation,
periods, lowercase, number words to digits, articles dropped, contractions) and compared exactly.
There are no annotator subsets to average over: the score of a question is 0 or 1.

Variants:

- ``vqa`` (default): both sides normalised with the VQA normalisation, always (as OpenFlamingo's VQA
  metric normalises).
- ``exact``: the strings compared after stripping surrounding whitespace only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fseval.errors import FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.vqa_normalize import clean_whitespace, normalize_answer

VARIANTS = ("vqa", "exact")


def exact_match(prediction: str, answer: str, variant: str = "vqa") -> float:
    """1.0 when the prediction equals the answer after the variant's normalisation, else 0.0."""
    if variant == "vqa":
        return float(normalize_answer(clean_whitespace(prediction)) == normalize_answer(clean_whitespace(answer)))
    if variant == "exact":
        return float(prediction.strip() == answer.strip())
    raise ValueError(f"unknown exact-match variant {variant!r}")


@register_metric(
    "exact_match",
    variants=VARIANTS,
    default_variant="vqa",
    target_fields=("answer",),
    result_format=formats.VQA_ANSWERS,
    check_target=lambda fields: formats.string(fields, "answer"),
    description="Open-ended QA accuracy: exact match with the single answer after VQA answer normalisation; x100.",
)
def score_exact_match(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} questions.")
    per_sample = [exact_match(p, str(t["answer"]), variant) for p, t in zip(predictions, targets, strict=True)]
    value = 100 * sum(per_sample) / len(per_sample) if per_sample else float("nan")
    return MetricResult(value=value, per_sample=per_sample)
