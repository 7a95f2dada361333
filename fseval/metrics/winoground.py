"""Winoground's text, image and group scores (Thrush et al. 2022, "Winoground: Probing Vision and Language
Models for Visio-Linguistic Compositionality", section 3.2).

Reproduces ``statistics/compute_statistics.py`` of the release (huggingface.co/datasets/facebook/winoground),
which reads a model's four scores per example, s(caption c, image i) for c, i in {0, 1}, and computes

- text: s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1) (each image prefers its own caption);
- image: s(c0, i0) > s(c0, i1) and s(c1, i1) > s(c1, i0) (each caption prefers its own image);
- group: both;

each with a strict ``>`` (equal scores count as wrong), x100, the mean over examples.

fseval scores an example from its two samples (``fseval.data.winoground``): the sample of image i ranks both
captions, giving s(c0, i) and s(c1, i). The example's samples are found by ``example_id`` and told apart by
``image``; the captions' scores by the sample's ``captions`` (caption_0, caption_1). An example whose other
sample failed (an unreadable image) cannot be scored and is left out, as a failed sample is; ``incomplete``
counts those examples. The headline is the group score (``--metric-variant text`` or ``image`` picks
another); the bootstrap resamples examples. A sample's own score is 1 when its image ranks its own caption
strictly first, half of what the text score asks.

``fseval score`` reads the release's own score files (``statistics/model_scores/<model>.jsonl``), a line
``{"label": "<id>_c<c>_i<i>", "score": s}`` per (example, caption, image).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fseval.errors import DataError, FsevalError, require
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.stats import Resampler
from fseval.types import Ranked, Sample

SCORES = ("group", "text", "image")


@dataclass(frozen=True)
class ExampleScores:
    """s(c, i) of one example: ``scores[c][i]``."""

    scores: tuple[tuple[float, float], tuple[float, float]]

    @property
    def text(self) -> bool:
        (c0_i0, c0_i1), (c1_i0, c1_i1) = self.scores
        return c0_i0 > c1_i0 and c1_i1 > c0_i1

    @property
    def image(self) -> bool:
        (c0_i0, c0_i1), (c1_i0, c1_i1) = self.scores
        return c0_i0 > c0_i1 and c1_i1 > c1_i0

    @property
    def group(self) -> bool:
        return self.text and self.image


def caption_scores(prediction: Any, target: Mapping[str, Any]) -> tuple[float, float]:
    """s(c0, i) and s(c1, i) from the ranking of a sample showing image i."""
    if not isinstance(prediction, Ranked):
        raise FsevalError("Winoground's scores need both captions' scores (a task with mode: rank).")
    scores = dict(zip(prediction.labels, prediction.scores, strict=True))
    captions = target["captions"]
    missing = [caption for caption in captions if caption not in scores]
    if missing:
        raise FsevalError(
            f"Sample {target.get('id')!r} has no score for the caption {missing[0]!r}.",
            hint="Each sample ranks its example's two captions (rank: {candidates_field: captions}).",
        )
    return scores[captions[0]], scores[captions[1]]


def examples(
    predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]]
) -> tuple[dict[Any, ExampleScores], list[Any]]:
    """Each complete example's scores (in order of first appearance), and each sample's example (None: incomplete)."""
    halves: dict[Any, dict[int, tuple[float, float]]] = {}
    for prediction, target in zip(predictions, targets, strict=True):
        image = target["image"]
        per_image = halves.setdefault(target["example_id"], {})
        if image in per_image:
            raise FsevalError(f"Example {target['example_id']!r} has two samples of image {image}.")
        per_image[image] = caption_scores(prediction, target)
    complete = {
        example: ExampleScores(((images[0][0], images[1][0]), (images[0][1], images[1][1])))
        for example, images in halves.items()
        if set(images) == {0, 1}
    }
    return complete, [t["example_id"] if t["example_id"] in complete else None for t in targets]


def _own_caption_first(prediction: Any, target: Mapping[str, Any]) -> float:
    scores = caption_scores(prediction, target)
    own = target["image"]
    return float(scores[own] > scores[1 - own])


def _check(fields: Mapping[str, Any]) -> str | None:
    captions = fields.get("captions")
    if not isinstance(captions, list | tuple) or len(captions) != 2 or not all(isinstance(c, str) for c in captions):
        return f"captions should be two strings, not {captions!r}"
    if fields.get("image") not in (0, 1):
        return f"image should be 0 or 1, not {fields.get('image')!r}"
    example_id = fields.get("example_id")
    return None if isinstance(example_id, int | str) else f"example_id should be a number, not {example_id!r}"


def read_model_scores(path: Path, samples: Sequence[Sample]) -> dict[Any, Ranked] | None:
    """The release's ``model_scores`` JSON lines as each sample's ranking; None when the file is not JSON lines."""
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not lines or not lines[0].lstrip().startswith("{"):
        return None
    captions = {(s.fields["example_id"], s.fields["image"]): (s.id, s.fields["captions"]) for s in samples}
    scores: dict[tuple[int, int], dict[int, float]] = {}
    for n, line in enumerate(lines, start=1):
        example, caption, image, score = _score_line(line, path, n)
        per_sample = scores.setdefault((example, image), {})
        if caption in per_sample:
            raise DataError(f"{path}: line {n} scores {example}_c{caption}_i{image} a second time.")
        per_sample[caption] = score
    out: dict[Any, Ranked] = {}
    for key, per_caption in scores.items():
        if key not in captions:
            raise DataError(f"{path}: example {key[0]} is not in the evaluation split read from --data-dir.")
        if set(per_caption) != {0, 1}:
            raise DataError(f"{path}: example {key[0]}, image {key[1]} has a score for one caption only.")
        sample_id, (c0, c1) = captions[key]
        out[sample_id] = Ranked.from_scores({c0: per_caption[0], c1: per_caption[1]})
    return out


def _score_line(line: str, path: Path, n: int) -> tuple[int, int, int, float]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path} line {n} is not valid JSON: {e.msg}.") from None
    label, score = require(record, "label", path, f"line {n}"), require(record, "score", path, f"line {n}")
    parts = label.split("_") if isinstance(label, str) else []
    if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in ("c0", "c1") or parts[2] not in ("i0", "i1"):
        raise DataError(f"{path}: line {n} label {label!r} is not '<example id>_c<0|1>_i<0|1>'.")
    if not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score):
        raise DataError(f"{path}: line {n} score {score!r} is not a finite number.")
    return int(parts[0]), int(parts[1][1]), int(parts[2][1]), float(score)


MODEL_SCORES = formats.ResultFormat(
    "id",
    formats.label_or_scores,
    '[{"id": "<example id>_i<image>", "scores": {caption_0: s, caption_1: s}}]',
    native=formats.NativeFormat(
        'the release\'s model_scores .jsonl: {"label": "<id>_c<c>_i<i>", "score": s} per line', read_model_scores
    ),
)


@register_metric(
    "winoground",
    variants=SCORES,
    default_variant="group",
    target_fields=("example_id", "image", "captions"),
    result_format=MODEL_SCORES,
    mode="rank",
    per_sample_mean=False,  # an example is scored from two samples; per-sample values are half of the text test
    headline="group score",
    check_target=_check,
    description=(
        "Winoground's group score (text and image scores alongside; --metric-variant text|image for those), as "
        "the release's compute_statistics.py: strict '>' between the scores of each caption with each image; x100. "
        "Per-sample: 1 when the sample's image ranks its own caption strictly first."
    ),
)
def score_winoground(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} samples.")
    complete, example_of = examples(predictions, targets)
    if not complete:
        raise FsevalError(
            f"None of the {len(targets)} scored Winoground samples has its example's other image scored too.",
            hint="An example is scored from both of its images: evaluate both (an even --limit) and check the images.",
        )
    correct = {name: np.asarray([getattr(e, name) for e in complete.values()], dtype=np.float64) for name in SCORES}
    extra = {f"{name}_score": 100 * float(values.mean()) for name, values in correct.items()}
    extra["incomplete"] = float(len({t["example_id"] for t in targets}) - len(complete))
    return MetricResult(
        value=extra[f"{variant}_score"],
        per_sample=[_own_caption_first(p, t) for p, t in zip(predictions, targets, strict=True)],
        extra=extra,
        resample=_resampler(correct[variant], list(complete), example_of),
    )


def _resampler(correct: np.ndarray, order: list[Any], example_of: Sequence[Any]) -> Resampler:
    """Resamples of the complete examples, drawn through the bootstrap's draws of samples.

    A row of sample draws is read as draws of their examples (a complete example has two samples, so each is
    equally likely), those of incomplete examples skipped, and the first m kept: m examples drawn uniformly.
    """
    position = {example: i for i, example in enumerate(order)}
    index = np.asarray([-1 if e is None else position[e] for e in example_of], dtype=np.int64)
    m = len(order)

    def resample(idx: np.ndarray) -> np.ndarray:
        drawn = index[idx]
        kept = (drawn >= 0) & (np.cumsum(drawn >= 0, axis=1) <= m)
        totals = np.where(kept, correct[np.maximum(drawn, 0)], 0.0).sum(axis=1)
        counts = kept.sum(axis=1)
        values: np.ndarray = np.divide(100 * totals, counts, out=np.full(len(idx), np.nan), where=counts > 0)
        return values

    return resample
