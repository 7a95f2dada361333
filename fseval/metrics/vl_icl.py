"""VL-ICL Bench's accuracies (Zong et al. 2024, "VL-ICL Bench: The Devil in the Details of Multimodal In-Context
Learning"), as ``evals/eval.py`` of github.com/ys-zong/VL-ICL scores its image-to-text tasks.

Both metrics first cut the generated text the same way: surrounding whitespace is stripped; then, if a newline
occurs after the first character, the text ends before it; otherwise, if a period occurs after the first
character, the text ends before that. Nothing is stripped after the cut (``"cat .\\nx"`` leaves ``"cat "``),
a period in the first position cuts nothing (``".5"`` stays), and a newline cut wins over an earlier period
(``"3.5\\nx"`` leaves ``"3.5"``).

- ``vl_icl_exact_match`` (textocr, clevr, open_mi, operator_induction, operator_induction_interleaved): the
  cut text, lower-cased, equals ``str(answer)`` lower-cased. Variant ``text`` compares the cut text itself;
  variant ``first_number`` (the official code's rule for datasets named ``operator_induction*``) first
  replaces it by its first run of digits (Python's ``\\d+``, Unicode digits included), or by the empty string
  when it has none; no sign is read, so a negative answer never matches. CLEVR is scored with ``text``: the
  official digit rule names ``clevr_simple``, which is not the ``clevr`` dataset.
- ``vl_icl_yes_no`` (matching_mi): an answer of "yes" is right when "yes" occurs anywhere in the lower-cased cut
  text ("eyes" counts); an answer of "no" is right when it does not (an empty prediction counts as "no").

Each query scores 1 or 0; the headline is 100 x their mean, as ``I2T_evaluate.py`` prints it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fseval.errors import DataError, FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.types import Sample

EXACT_VARIANTS = ("text", "first_number")
DIGITS = re.compile(r"\d+")


def cut(prediction: str) -> str:
    """The generated text as the official scorer reads it (see the module docstring)."""
    text = prediction.strip()
    end = text.find("\n")
    if end <= 0:
        end = text.find(".")
    return text[:end] if end > 0 else text


def first_number(text: str) -> str:
    """The first run of digits in ``text``, or "" when it has none."""
    found = DIGITS.search(text)
    return found.group() if found else ""


def exact_match(prediction: str, answer: Any, variant: str = "text") -> float:
    """1.0 when the cut prediction (its first number, for ``first_number``) equals the answer, case aside."""
    if variant not in EXACT_VARIANTS:
        raise ValueError(f"unknown VL-ICL exact-match variant {variant!r}")
    text = cut(prediction)
    if variant == "first_number":
        text = first_number(text)
    return float(text.lower() == str(answer).lower())


def yes_no(prediction: str, answer: str) -> float:
    """1.0 when "yes" occurs in the cut prediction exactly when the answer is "yes"; 0.0 for any other answer."""
    said_yes = "yes" in cut(prediction).lower()
    expected = answer.lower()
    return float((expected == "yes" and said_yes) or (expected == "no" and not said_yes))


def _check_answer(fields: Mapping[str, Any]) -> str | None:
    answer = fields.get("answer")
    if isinstance(answer, str) or (isinstance(answer, int) and not isinstance(answer, bool)):
        return None
    return f"answer should be a string or an integer, not {answer!r}"


def _check_yes_no(fields: Mapping[str, Any]) -> str | None:
    answer = fields.get("answer")
    if isinstance(answer, str) and answer.lower() in ("yes", "no"):
        return None
    return f"answer should be 'yes' or 'no', not {answer!r}"


def read_official_results(path: Path, samples: Sequence[Sample]) -> dict[Any, Any] | None:
    """``I2T_inference.py``'s results file: query.json's records in order, each with its ``prediction``.

    None when the file is not of that shape (no record has a ``prediction`` without an ``id``).
    """
    records = formats.read_json_file(path)
    if not isinstance(records, list) or not records:
        return None
    if not all(isinstance(r, dict) and "prediction" in r and "id" not in r for r in records):
        return None
    if len(records) != len(samples):
        raise DataError(
            f"{path} holds {len(records)} results, but the evaluation split has {len(samples)} queries.",
            hint="An official results file is matched to query.json by position: score it against the whole split.",
        )
    predictions: dict[Any, Any] = {}
    for i, (record, sample) in enumerate(zip(records, samples, strict=True)):
        if str(record.get("answer")) != str(sample.fields.get("answer")):
            raise DataError(f"{path}: item {i} has answer {record.get('answer')!r}, but query {i} has another.")
        predictions[sample.id] = formats.text("prediction")(record, path, f"item {i}")
    return predictions


PREDICTIONS = formats.ResultFormat(
    "id",
    formats.text("prediction"),
    '[{"id": the query\'s sample id, "prediction"}]',
    native=formats.NativeFormat(
        "I2T_inference.py's results/<dataset>/<engine>_<shot>-shot.json (query.json's records with 'prediction')",
        read_official_results,
    ),
)


def _scored(per_sample: list[float]) -> MetricResult:
    return MetricResult(
        value=100 * sum(per_sample) / len(per_sample) if per_sample else float("nan"), per_sample=per_sample
    )


@register_metric(
    "vl_icl_exact_match",
    variants=EXACT_VARIANTS,
    default_variant="text",
    target_fields=("answer",),
    result_format=PREDICTIONS,
    check_target=_check_answer,
    description=(
        "VL-ICL Bench accuracy, as its evals/eval.py exact_match: the prediction stripped and cut at its first "
        "newline, else its first period (neither in the first position), equals str(answer), case aside; x100. "
        "Variant first_number (operator induction) compares the cut text's first run of digits instead."
    ),
)
def score_exact_match(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} queries.")
    return _scored([exact_match(p, t["answer"], variant) for p, t in zip(predictions, targets, strict=True)])


@register_metric(
    "vl_icl_yes_no",
    variants=("default",),
    default_variant="default",
    target_fields=("answer",),
    result_format=PREDICTIONS,
    check_target=_check_yes_no,
    description=(
        "VL-ICL Bench matching accuracy, as its evals/eval.py exact_yes_no: the prediction cut as for exact match; "
        "right when 'yes' occurs in it (lower-cased) exactly when the answer is 'yes'; x100."
    ),
)
def score_yes_no(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} queries.")
    return _scored([yes_no(p, str(t["answer"])) for p, t in zip(predictions, targets, strict=True)])
