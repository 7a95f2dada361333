"""ScienceQA accuracy (Lu et al., NeurIPS 2022): multiple choice, overall and by the release's question sets.

A problem is right when the top-ranked of its own choices is the released answer. The groups are those of
``get_scores`` in lupantech/ScienceQA's ``tools/evaluate_acc.py`` (the README's table columns): the subjects
NAT, SOC and LAN (``subject`` is natural, social or language science); the context TXT (a non-empty ``hint``),
IMG (an ``image``) and NO (neither), which overlap where a problem has both; the grades G1-6 and G7-12
(``grade1`` ... ``grade12``); and the problems' topics, which the task's breakdown by ``topic`` gives. The
headline is the accuracy over all problems scored (the README's Avg). fseval evaluates the IMG subset, so
there the headline and IMG coincide, and NO is empty: an empty group is left out (``get_scores`` gives -1).
``get_scores`` prints each group's accuracy rounded to 2 decimals; these are unrounded.

``fseval score`` reads the release's results file, ``{"results": {pid: chosen choice index}, ...}`` as
``models/run_gpt3.py`` writes it; results for problems outside the evaluated subset (the test problems
without an image) are left out. An index that is no choice of its problem is refused (``get_scores`` counts
it wrong).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fseval.errors import DataError, FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.types import Ranked, Sample

Fields = Mapping[str, Any]

GROUPS: dict[str, Callable[[Fields], bool]] = {
    "NAT": lambda t: t.get("subject") == "natural science",
    "SOC": lambda t: t.get("subject") == "social science",
    "LAN": lambda t: t.get("subject") == "language science",
    "TXT": lambda t: bool(t.get("hint")),
    "IMG": lambda t: bool(t.get("image")),
    "NO": lambda t: not t.get("hint") and not t.get("image"),
    "G1-6": lambda t: t.get("grade") in {f"grade{g}" for g in range(1, 7)},
    "G7-12": lambda t: t.get("grade") in {f"grade{g}" for g in range(7, 13)},
}
"""README column -> whether a problem (its fields) belongs to it, as ``get_scores`` selects it."""


def accuracy(correct: Sequence[float]) -> float:
    """Per cent right, computed in ``get_scores``' order of operations (right / total * 100)."""
    return sum(correct) / len(correct) * 100 if correct else math.nan


def group_accuracies(correct: Sequence[float], targets: Sequence[Fields]) -> dict[str, float]:
    """Each non-empty group's accuracy (x100)."""
    out = {}
    for name, member in GROUPS.items():
        rows = [c for c, t in zip(correct, targets, strict=True) if member(t)]
        if rows:
            out[name] = accuracy(rows)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not a JSON file: {e}") from None


def _chosen(value: Any, choices: Sequence[str], path: Path, pid: str) -> Ranked:
    index = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    return formats.chosen_index(index, choices, f"{path}: results[{pid!r}]")


def load_results(path: Path, samples: Sequence[Sample]) -> dict[Any, Any] | None:
    """The release's results file by problem id (None: the file is not one)."""
    data = _read_json(path)
    if not isinstance(data, dict) or "results" not in data:
        return None
    results = data["results"]
    if not isinstance(results, dict):
        raise DataError(f"{path}: field 'results' should map problem ids to choice indices.")
    choices = {str(sample.id): sample.fields.get("choices", []) for sample in samples}
    return {pid: _chosen(value, choices[pid], path, pid) for pid, value in results.items() if pid in choices}


SCIENCEQA_RESULTS = formats.ResultFormat(
    "pid",
    formats.chosen_text,
    '[{"pid", "answer": the chosen choice\'s text}]',
    native=formats.NativeFormat(
        "{\"results\": {pid: the chosen choice's index}, ...} (ScienceQA's results file)", load_results
    ),
)


def check_target(fields: Fields) -> str | None:
    """The answer is one of the problem's choices, and the choices are distinct texts."""
    problem = formats.string(fields, "label") or formats.non_empty_strings(fields, "choices")
    if problem:
        return problem
    if len(set(fields["choices"])) != len(fields["choices"]):
        return f"its choices repeat a text: {fields['choices']!r}"
    return None if fields["label"] in fields["choices"] else f"its answer {fields['label']!r} is not one of its choices"


@register_metric(
    "scienceqa_accuracy",
    variants=("default",),
    default_variant="default",
    target_fields=("label", "choices", "subject", "hint", "image", "grade", "topic"),
    result_format=SCIENCEQA_RESULTS,
    mode="rank",
    check_target=check_target,
    description="ScienceQA: top-1 accuracy over each problem's own choices (Avg), with NAT/SOC/LAN, TXT/IMG/NO, "
    "G1-6/G7-12 alongside; x100.",
)
def score_scienceqa(predictions: Sequence[Any], targets: Sequence[Fields], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} problems.")
    if any(not isinstance(p, Ranked) for p in predictions):
        raise FsevalError("ScienceQA accuracy needs ranked choices (a task with mode: rank).")
    correct = [float(p.top == t["label"]) for p, t in zip(predictions, targets, strict=True)]
    return MetricResult(accuracy(correct), correct, group_accuracies(correct, targets))
