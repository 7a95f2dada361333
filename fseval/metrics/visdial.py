"""VisDial's retrieval metrics: NDCG over the dense annotations; R@1, R@5, R@10, MRR and mean rank.

Reproduces ``visdialch/metrics.py`` of github.com/batra-mlp-lab/visdial-challenge-starter-pytorch
(commit 5844f3d, September 2021), which ``evaluate.py`` there runs on the val split:

- A round's 100 options are ranked by score, highest first (rank 1), the scores taken as float32 (as
  ``torch.tensor`` holds them). Its ``scores.sort(1, descending=True)`` is not stable: on CPU, torch
  sorts a row with libstdc++'s ``std::sort`` (introsort), so equal scores come out in that
  algorithm's order, neither the options' order nor its reverse. fseval runs the same algorithm
  (``introsort``) on rows with equal scores; ``scripts/make_visdial_fixture.py`` records torch's
  ranks (1.13.1; 2.x ranks the same) on rows of many ties, one deep enough for its heapsort fallback.
- R@k, MRR and mean rank are over every round, from the rank of its ground truth (``gt_index``): the
  share ranked k or better, the mean of 1 / rank, the mean rank.
- NDCG is over the rounds with a dense annotation (``gt_relevance``, one round per val image). With
  k the number of options of non-zero relevance, DCG sums, over the k best-ranked options, the
  relevance over log2(position + 1); NDCG divides it by the DCG of the k most relevant options. A round
  whose options all have relevance 0 divides 0 by 0, as the official code does (NaN).

fseval reports NDCG (the headline, as the Flamingo paper does), R@k and MRR x100, and mean rank as is.
A prediction is a ``Ranked`` holding every option's score; each option's score is looked up by its
text, so options of equal text (if a round had any) get one score, which is what a model gives them.
Per sample: the reciprocal rank of the round's answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fseval.errors import DataError, FsevalError, require
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.stats import Resampler
from fseval.types import Ranked, Sample

OPTIONS_FIELD = "options"  # each sample's candidates: its round's answer options, in option order
RECALLS = (1, 5, 10)


def ranks(scores: Sequence[float]) -> list[int]:
    """Each option's rank (1 = highest score), equal scores ordered as the official code's torch sort orders them."""
    keys = np.asarray(scores, dtype=np.float32).tolist()  # torch.tensor(scores) holds them so
    if len(set(keys)) == len(keys):
        order = sorted(range(len(keys)), key=lambda j: -keys[j])
    else:
        order = list(range(len(keys)))
        introsort(order, lambda a, b: keys[a] > keys[b] or (keys[a] != keys[a] and keys[b] == keys[b]))
    found = [0] * len(keys)
    for position, option in enumerate(order, start=1):
        found[option] = position
    return found


Before = Callable[[int, int], bool]
"""Whether option a sorts before option b (torch's descending comparison of their scores: NaN first)."""

SMALL = 16  # libstdc++'s _S_threshold: parts this long are left to the final insertion sort


def introsort(items: list[int], before: Before) -> None:
    """Sort ``items`` in place exactly as libstdc++'s ``std::sort`` does, equal items included.

    torch sorts a CPU tensor's rows with ``std::sort`` unless asked for a stable sort, so the order
    of equal scores is this algorithm's: median-of-three quicksort down to parts of 16, heapsort
    past a depth of 2 log2(n), then one insertion sort over the whole.
    """
    if len(items) > 1:
        _introsort_loop(items, 0, len(items), 2 * (len(items).bit_length() - 1), before)
        _insertion_sort(items, 0, len(items), before)


def _introsort_loop(items: list[int], first: int, last: int, depth: int, before: Before) -> None:
    while last - first > SMALL:
        if depth == 0:
            _heapsort(items, first, last, before)
            return
        depth -= 1
        cut = _partition_pivot(items, first, last, before)
        _introsort_loop(items, cut, last, depth, before)
        last = cut


def _partition_pivot(items: list[int], first: int, last: int, before: Before) -> int:
    """Move the median of items first+1, middle, last-1 to first, then partition the rest around it."""
    a, b, c = first + 1, first + (last - first) // 2, last - 1
    x, y, z = items[a], items[b], items[c]
    if before(x, y):
        median = b if before(y, z) else (c if before(x, z) else a)
    else:
        median = a if before(x, z) else (c if before(y, z) else b)
    items[first], items[median] = items[median], items[first]
    pivot, low, high = items[first], first + 1, last
    while True:
        while before(items[low], pivot):
            low += 1
        high -= 1
        while before(pivot, items[high]):
            high -= 1
        if low >= high:
            return low
        items[low], items[high] = items[high], items[low]
        low += 1


def _insertion_sort(items: list[int], first: int, last: int, before: Before) -> None:
    """libstdc++'s final insertion sort: the first 16 guarded, the rest unguarded (same result)."""
    for i in range(first + 1, last):
        value, j = items[i], i
        if before(value, items[first]):
            items[first + 1 : i + 1] = items[first:i]
            items[first] = value
            continue
        while before(value, items[j - 1]):
            items[j] = items[j - 1]
            j -= 1
        items[j] = value


def _heapsort(items: list[int], first: int, last: int, before: Before) -> None:
    """libstdc++'s ``partial_sort(first, last, last)``: make_heap, then sort_heap."""
    length = last - first
    for parent in range((length - 2) // 2, -1, -1):
        _adjust_heap(items, first, parent, length, items[first + parent], before)
    for end in range(length - 1, 0, -1):
        value = items[first + end]
        items[first + end] = items[first]
        _adjust_heap(items, first, 0, end, value, before)


def _adjust_heap(items: list[int], first: int, hole: int, length: int, value: int, before: Before) -> None:
    top, child = hole, hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if before(items[first + child], items[first + child - 1]):
            child -= 1
        items[first + hole] = items[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        items[first + hole] = items[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and before(items[first + parent], value):
        items[first + hole] = items[first + parent]
        hole, parent = parent, (parent - 1) // 2
    items[first + hole] = value


def ndcg(option_ranks: Sequence[int], relevance: Sequence[float]) -> float:
    """The official NDCG of one round: DCG of the k best-ranked options over the best possible, k = #relevant."""
    k = sum(1 for r in relevance if r != 0)
    by_rank = sorted(range(len(option_ranks)), key=lambda j: option_ranks[j])
    discounts = [math.log2(position + 2) for position in range(k)]
    dcg = math.fsum(relevance[j] / d for j, d in zip(by_rank[:k], discounts, strict=True))
    best = math.fsum(r / d for r, d in zip(sorted(relevance, reverse=True)[:k], discounts, strict=True))
    return dcg / best if best else math.nan


def option_scores(prediction: Any, options: Sequence[str], index: int) -> list[float]:
    """The prediction's score of each option, in option order."""
    if not isinstance(prediction, Ranked):
        raise FsevalError("VisDial's metrics need every option's score (a task with mode: rank).")
    by_text = dict(zip(prediction.labels, prediction.scores, strict=True))
    missing = [option for option in options if option not in by_text]
    if missing:
        raise FsevalError(
            f"Prediction {index} has no score for {len(missing)} of its round's {len(options)} options "
            f"(e.g. {missing[0]!r}).",
            hint="Each VisDial round ranks all of its answer options.",
        )
    return [by_text[option] for option in options]


def _check(fields: Mapping[str, Any]) -> str | None:
    options, gt_index, relevance = fields.get(OPTIONS_FIELD), fields.get("gt_index"), fields.get("gt_relevance")
    if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
        return f"{OPTIONS_FIELD} should be a non-empty list of strings"
    if not isinstance(gt_index, int) or not 0 <= gt_index < len(options):
        return f"gt_index should be a position among the {len(options)} options, not {gt_index!r}"
    if relevance is not None and (not isinstance(relevance, list) or len(relevance) != len(options)):
        return f"gt_relevance should hold one number per option ({len(options)}), not {relevance!r}"
    return None


def read_submission(path: Path, samples: Sequence[Sample]) -> dict[Any, Ranked] | None:
    """The challenge's ranks file ``[{"image_id", "round_id", "ranks"}]``; None if not one.

    ``ranks[j]`` is option j's rank, 1 the best (the starter code's ``evaluate.py --save-ranks-path``).
    """
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(records, list) or not records or not isinstance(records[0], Mapping):
        return None
    if "ranks" not in records[0]:
        return None
    by_round = {(s.fields.get("image_id"), s.fields.get("round_id")): s for s in samples}
    found: dict[Any, Ranked] = {}
    for n, record in enumerate(records):
        where = f"item {n}"
        key = tuple(require(record, name, path, where) for name in ("image_id", "round_id"))
        sample = by_round.get(key)
        if sample is None:
            raise DataError(f"{path}: {where} (image_id {key[0]!r}, round_id {key[1]!r}) is not a round of the split.")
        options = sample.fields[OPTIONS_FIELD]
        given = require(record, "ranks", path, where)
        if not isinstance(given, list) or sorted(given) != list(range(1, len(options) + 1)):
            raise DataError(
                f"{path}: {where} field 'ranks' should give each of the round's {len(options)} options its rank, "
                f"the numbers 1 to {len(options)} once each."
            )
        found[sample.id] = Ranked.from_scores(
            {option: -float(rank) for option, rank in zip(options, given, strict=True)}
        )
    return found


RANKS = formats.ResultFormat(
    "id",
    formats.label_or_scores,
    '[{"id", "scores": {option: score, ...every option of the round}}]',
    native=formats.NativeFormat('the challenge\'s [{"image_id", "round_id", "ranks": [100 ranks]}]', read_submission),
)


@register_metric(
    "visdial",
    variants=("default",),
    default_variant="default",
    target_fields=("gt_index", "gt_relevance"),
    result_format=RANKS,
    mode="rank",
    per_sample_mean=False,  # NDCG is over the annotated rounds only
    headline="NDCG",
    check_target=_check,
    description=(
        "VisDial v1.0's NDCG over the dense annotations (x100), with R@1/5/10, MRR (x100) and mean rank over "
        "every round, as visdialch/metrics.py of the challenge starter code. Per-sample: 1 / the answer's rank."
    ),
)
def score_visdial(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} samples.")
    gt_ranks, round_ndcg = [], []
    for i, (prediction, fields) in enumerate(zip(predictions, targets, strict=True)):
        option_ranks = ranks(option_scores(prediction, fields[OPTIONS_FIELD], i))
        gt_ranks.append(option_ranks[fields["gt_index"]])
        relevance = fields.get("gt_relevance")
        round_ndcg.append(math.nan if relevance is None else ndcg(option_ranks, relevance))
    rank_array = np.asarray(gt_ranks, dtype=np.float64)
    annotated = np.asarray([fields.get("gt_relevance") is not None for fields in targets])
    values = np.where(annotated, np.asarray(round_ndcg), 0.0)
    resample = _ndcg_resampler(values, annotated)
    extra = {f"R@{k}": 100 * float(np.mean(rank_array <= k)) for k in RECALLS}
    extra |= {"MRR": 100 * float(np.mean(1 / rank_array)), "mean rank": float(np.mean(rank_array))}
    extra["NDCG rounds"] = float(annotated.sum())
    value = float(resample(np.arange(len(targets))[None, :])[0]) if len(targets) else math.nan
    return MetricResult(value=value, per_sample=list(1 / rank_array), extra=extra, resample=resample)


def _ndcg_resampler(values: np.ndarray, annotated: np.ndarray) -> Resampler:
    def resample(idx: np.ndarray) -> np.ndarray:
        counts = annotated[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            result: np.ndarray = 100 * values[idx].sum(axis=1) / counts
        return result

    return resample
