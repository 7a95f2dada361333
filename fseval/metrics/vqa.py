"""VQA accuracy (Antol et al. 2015; Goyal et al. 2017) and the variants its evaluators apply.

Per question: the mean, over the 10 ways of leaving one annotator out, of
``min(1, #other annotators who gave the prediction / 3)``. Variants differ only in how answers
are normalised and in how "the other annotators" are found:

- ``vqav2``: GT-Vision-Lab/VQA ``vqaEval.py`` (also OK-VQA's evaluator). Normalises the
  prediction and the answers only when the 10 answers are not all identical, so "Yes" scores 0
  against ten "yes". The script is Python 2, whose regular expressions see only ASCII digits in
  answers; fseval does the same in this variant (the others are Python 3 code).
- ``textvqa``: the TextVQA authors' evaluator (mmf ``m4c_evaluators.TextVQAAccuracyEvaluator``):
  always normalises both sides with ``EvalAIAnswerProcessor``, which first lowercases, removes
  ``,`` and ``?`` and splits off ``'s``.
- ``vizwiz``: the VizWiz evaluator (Qing Li's VizWiz API): normalises the prediction only and
  compares it with the stored answers as they are. Its copy of the contraction table has curly
  apostrophes (``don’t``); fseval uses the VQAv2 table's ASCII ones, so a prediction such as
  "dont" can match an answer "don't" here where the VizWiz script would not.
- ``openflamingo``: OpenFlamingo's ``vqa_metric.py``, which produced its published tables:
  always normalises both sides and leaves annotators out by comparing answer *dicts*; when
  answers carry no ``answer_id`` (OpenFlamingo's VizWiz files) every identical answer is
  dropped together.

Except in ``openflamingo``, annotators are left out by index. The official scripts compare
dicts too, but with ``answer_id`` present that is the same thing, and without it the official
behaviour is the bug above.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from fseval.errors import FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.vqa_normalize import clean_whitespace, normalize_answer

VARIANTS = ("vqav2", "textvqa", "vizwiz", "openflamingo")


def _textvqa_process(text: str) -> str:
    # EvalAIAnswerProcessor: word_tokenize (lower, drop "," and "?", split "'s"), whitespace, then
    # the VQA script's punctuation and digit/article steps.
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return normalize_answer(clean_whitespace(text))


def _leave_one_out(prediction: str, answers: Sequence[str], identities: Sequence[Any]) -> float:
    """Mean over annotators i of min(1, matches among annotators whose identity differs from i's / 3).

    Mirrors the official loop's float operations so that sums agree to the last bit.
    """
    accuracies = []
    for identity in identities:
        matching = sum(
            1 for other, answer in zip(identities, answers, strict=True) if other != identity and answer == prediction
        )
        accuracies.append(min(1, float(matching) / 3))
    return float(sum(accuracies)) / len(accuracies)


def vqa_accuracy(
    prediction: str,
    answers: Sequence[str],
    variant: str = "vqav2",
    answer_meta: Sequence[Hashable] | None = None,
) -> float:
    """Accuracy in [0, 1] of one prediction against the annotators' answers.

    ``answer_meta`` holds, per answer, a value that two answers share exactly when the rest of their
    annotation records is equal (loaders give a small number per record), which only the
    ``openflamingo`` variant's dict comparison looks at.
    """
    if not answers:
        raise ValueError("a VQA question needs at least one answer")
    by_index = range(len(answers))
    if variant == "vqav2":
        gts = [clean_whitespace(a) for a in answers]
        pred = clean_whitespace(prediction)
        if len(set(gts)) > 1:
            gts = [normalize_answer(a, ascii_digits=True) for a in gts]
            pred = normalize_answer(pred, ascii_digits=True)
        return _leave_one_out(pred, gts, by_index)
    if variant == "textvqa":
        return _leave_one_out(_textvqa_process(prediction), [_textvqa_process(a) for a in answers], by_index)
    if variant == "vizwiz":
        # The VizWiz evaluator compares the stored answers as they are: not stripped, not lowercased.
        return _leave_one_out(normalize_answer(clean_whitespace(prediction)), list(answers), by_index)
    if variant == "openflamingo":
        gts = [normalize_answer(clean_whitespace(a)) for a in answers]
        # Without the records' other fields, assume they differ (as answer ids make them).
        meta: Sequence[Any] = answer_meta if answer_meta is not None else by_index
        return _leave_one_out(normalize_answer(clean_whitespace(prediction)), gts, list(zip(gts, meta, strict=True)))
    raise ValueError(f"unknown VQA accuracy variant {variant!r}")


@register_metric(
    "vqa_accuracy",
    variants=VARIANTS,
    default_variant="vqav2",
    target_fields=("answers",),
    result_format=formats.VQA_ANSWERS,
    check_target=lambda fields: formats.non_empty_strings(fields, "answers"),
    description="VQA accuracy: min(1, #matching annotators / 3), averaged over leave-one-out subsets; x100.",
)
def score_vqa(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} questions.")
    per_sample = [
        vqa_accuracy(pred, target["answers"], variant, target.get("answer_meta"))
        for pred, target in zip(predictions, targets, strict=True)
    ]
    value = 100 * float(sum(per_sample)) / len(per_sample) if per_sample else float("nan")
    return MetricResult(value=value, per_sample=per_sample)
