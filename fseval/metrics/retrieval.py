"""RareAct's mWAP and mSAP (Miech et al. 2020, "RareAct: A video dataset of unusual interactions").

Reproduces ``compute_score.py`` of github.com/antoine77340/RareAct (commit e9166df, August 2020), which
scores a matrix with one row per line of ``rareact.csv`` and one column per ``class_id``:

- Each (verb, noun) class that has a positive line is a retrieval problem over lines of the csv, ranked
  by the class's column. Its positives are its own lines annotated 1; its negatives, its own lines
  annotated 0 and the positive lines of every class sharing neither its verb nor its noun; its hard
  negatives, its own lines annotated anything else (2, 3, 4) and the positive lines of every class
  sharing exactly one of its verb and noun. Each list keeps the csv's order.
- wAP is scikit-learn's ``average_precision_score`` (equal scores form one threshold), each line weighted
  by one over the number of lines of its video in its list (positives, negatives, hard negatives), so
  that every video weighs one in each list. mWAP is the mean over the classes with a positive.
- sAP is the mean, over n = 100 draws, of the unweighted average precision on one line per video of
  each list, drawn uniformly. The official script draws with Python's ``random`` unseeded and visits a
  list's videos in the order of a ``set`` (which changes with the hash seed), so its mSAP changes from
  run to run. fseval draws the same way (``randrange`` per video, per list, per draw, per class) from
  ``random.Random(0)``, visiting videos in order of first appearance; given those draws the official
  script prints the same number (``scripts/make_rareact_fixture.py`` runs it so).

A prediction is a ``Ranked`` holding every class's score (the task's candidates, "verb noun" in
``class_id`` order, are the sample field ``classes``). fseval reports both x100, as the Flamingo paper
does (60.8 mWAP zero-shot). Scoring a subset of the csv (samples that failed are left out) is scoring
the csv restricted to those lines.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fseval.errors import DataError, FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.metrics.stats import Resampler
from fseval.types import Ranked, Sample

POSITIVE, NEGATIVE, HARD_NEGATIVE = 0, 1, 2
SAMPLED_DRAWS = 100  # the n of mSAP in the RareAct README (``compute_score.py predictions.npy 100``)
SAMPLED_SEED = 0
CLASSES_FIELD = "classes"  # every sample's candidates: each class's "verb noun", in class_id order


@dataclass(frozen=True)
class Problem:
    """One class's retrieval problem: the csv lines it ranks and how each one counts."""

    column: int  # the class's column in the score matrix
    lines: np.ndarray  # its positives, negatives and hard negatives, each list in csv order
    positive: np.ndarray  # bool, per entry of ``lines``
    videos: np.ndarray  # per entry, its (list, video) group, numbered in order of first appearance
    members: tuple[tuple[int, ...], ...]  # per group, its entries in order
    by_group: np.ndarray  # the entries grouped: those of group 0, then of group 1 ...
    starts: np.ndarray  # where each group starts in ``by_group``


def problems(
    actions: Sequence[tuple[str, str]], annotations: Sequence[int], videos: Sequence[str]
) -> tuple[list[tuple[str, str]], list[Problem]]:
    """The classes (in order of first appearance: the columns) and the problems of those with a positive."""
    lists: dict[tuple[str, str], tuple[list[int], list[int], list[int]]] = {a: ([], [], []) for a in actions}
    for line, ((verb, noun), annotation) in enumerate(zip(actions, annotations, strict=True)):
        if annotation == 1:
            lists[verb, noun][POSITIVE].append(line)
            for (other_verb, other_noun), other in lists.items():
                if (other_verb == verb) != (other_noun == noun):
                    other[HARD_NEGATIVE].append(line)
                elif other_verb != verb and other_noun != noun:
                    other[NEGATIVE].append(line)
        else:
            lists[verb, noun][NEGATIVE if annotation == 0 else HARD_NEGATIVE].append(line)
    classes = list(lists)
    found = [_problem(column, kinds, videos) for column, kinds in enumerate(lists.values()) if kinds[POSITIVE]]
    return classes, found


def _problem(column: int, kinds: tuple[list[int], list[int], list[int]], videos: Sequence[str]) -> Problem:
    lines = [line for kind in kinds for line in kind]
    groups: dict[tuple[int, str], list[int]] = {}
    for entry, (kind, line) in enumerate((kind, line) for kind, members in enumerate(kinds) for line in members):
        groups.setdefault((kind, videos[line]), []).append(entry)
    group_of = np.empty(len(lines), dtype=np.int64)
    for number, entries in enumerate(groups.values()):
        group_of[entries] = number
    positive = np.zeros(len(lines), dtype=bool)
    positive[: len(kinds[POSITIVE])] = True
    members = tuple(tuple(entries) for entries in groups.values())
    by_group = np.asarray([entry for entries in members for entry in entries], dtype=np.int64)
    starts = np.cumsum([0, *(len(entries) for entries in members[:-1])])
    return Problem(column, np.asarray(lines, dtype=np.int64), positive, group_of, members, by_group, starts)


@dataclass(frozen=True)
class Ranking:
    """A problem's entries ordered by score, best first, and where each run of equal scores ends."""

    order: np.ndarray
    ends: np.ndarray
    positive: np.ndarray  # in that order

    @classmethod
    def of(cls, problem: Problem, scores: np.ndarray) -> Ranking:
        column = scores[problem.lines, problem.column]
        order = np.argsort(-column, kind="stable")
        ranked = column[order]
        ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
        return cls(order, ends, problem.positive[order])


def average_precision(ranking: Ranking, weights: np.ndarray) -> np.ndarray:
    """Per row of ``weights`` (R, entries in ranking order): scikit-learn's weighted average precision.

    The sum over thresholds (one per run of equal scores) of the recall gained times the precision;
    NaN where the positives weigh nothing.
    """
    true = np.cumsum(weights * ranking.positive, axis=1)[:, ranking.ends]
    false = np.cumsum(weights * ~ranking.positive, axis=1)[:, ranking.ends]
    seen = true + false
    precision = np.divide(true, seen, out=np.zeros_like(true), where=seen > 0)
    gained = np.diff(true, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        values: np.ndarray = (gained * precision).sum(axis=1) / true[:, -1]
    return values


def weighted_ap(problem: Problem, ranking: Ranking, counts: np.ndarray) -> np.ndarray:
    """wAP per row of ``counts`` (R, csv lines): how many times each line is drawn (1 each: the csv itself).

    A line drawn k times counts k times, in its list and in its video's count, as in the csv of the draw.
    """
    drawn = counts[:, problem.lines]
    per_group = np.add.reduceat(drawn[:, problem.by_group], problem.starts, axis=1)[:, problem.videos]
    weights = np.divide(drawn, per_group, out=np.zeros_like(drawn), where=per_group > 0)
    return average_precision(ranking, weights[:, ranking.order])


def sampled_ap(problem: Problem, ranking: Ranking, rng: random.Random, draws: int) -> float:
    """sAP: mean over ``draws`` of the average precision on one entry per (list, video) group."""
    weights = np.zeros((draws, len(problem.lines)))
    position = np.empty(len(problem.lines), dtype=np.int64)
    position[ranking.order] = np.arange(len(problem.lines))
    randrange = rng.randrange
    for draw in range(draws):
        chosen = [entries[randrange(len(entries))] for entries in problem.members]
        weights[draw, position[chosen]] = 1.0
    return float(average_precision(ranking, weights).mean())


def mean_weighted_ap(problems_: Sequence[Problem], rankings: Sequence[Ranking], counts: np.ndarray) -> np.ndarray:
    """mWAP per row of ``counts``: the mean over the problems with a positive drawn (NaN: none)."""
    values = np.stack([weighted_ap(p, r, counts) for p, r in zip(problems_, rankings, strict=True)], axis=1)
    drawn = ~np.isnan(values).all(axis=1)
    result = np.full(len(values), np.nan)
    result[drawn] = np.nanmean(values[drawn], axis=1)
    return result


def mean_sampled_ap(
    problems_: Sequence[Problem], rankings: Sequence[Ranking], draws: int = SAMPLED_DRAWS, seed: int = SAMPLED_SEED
) -> float:
    rng = random.Random(seed)
    return float(np.mean([sampled_ap(p, r, rng, draws) for p, r in zip(problems_, rankings, strict=True)]))


def score_matrix(predictions: Sequence[Any], classes: Sequence[tuple[str, str]]) -> np.ndarray:
    """Row i: prediction i's score for each class, in ``classes`` order."""
    columns = {f"{verb} {noun}": j for j, (verb, noun) in enumerate(classes)}
    matrix = np.empty((len(predictions), len(columns)))
    for i, prediction in enumerate(predictions):
        if not isinstance(prediction, Ranked):
            raise FsevalError("mWAP needs every candidate's score (a task with mode: rank).")
        found = 0
        for label, score in zip(prediction.labels, prediction.scores, strict=True):
            j = columns.get(label)
            if j is not None:
                matrix[i, j] = score
                found += 1
        if found != len(columns):
            raise FsevalError(
                f"Prediction {i} holds scores for {found} of the {len(columns)} RareAct classes of the scored clips.",
                hint="mWAP ranks every clip for every class: each prediction needs all the classes' scores.",
            )
    if not np.isfinite(matrix).all():
        row, column = np.argwhere(~np.isfinite(matrix))[0]
        raise FsevalError(
            f"Prediction {row} scores {list(columns)[column]!r} {matrix[row, column]}: RareAct's "
            "compute_score.py (scikit-learn) refuses scores that are not finite numbers."
        )
    return matrix


def _check(fields: Mapping[str, Any]) -> str | None:
    for key in ("label", "verb", "noun", "video_id"):
        problem = formats.string(fields, key)
        if problem:
            return problem
    annotation = fields.get("annotation")
    if not isinstance(annotation, int) or isinstance(annotation, bool):
        return f"annotation should be an integer, not {annotation!r}"
    return None


def read_score_matrix(path: Path, samples: Sequence[Sample]) -> dict[Any, Ranked] | None:
    """RareAct's ``.npy`` predictions (rows: rareact.csv's lines in order; columns: class_id); None if not .npy."""
    with path.open("rb") as f:
        if f.read(6) != b"\x93NUMPY":
            return None
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e}).") from None
    classes: Sequence[str] = samples[0].fields[CLASSES_FIELD] if samples else ()
    expected = (len(samples), len(classes))
    if matrix.shape != expected or not np.issubdtype(matrix.dtype, np.number):
        raise DataError(
            f"{path}: the score matrix is {matrix.dtype} of shape {matrix.shape}; RareAct's is numbers of shape "
            f"{expected}: one row per line of rareact.csv, in its order, and one column per class_id.",
            hint="Save it with numpy.save(path, scores) where scores[i, c] scores line i for class_id c.",
        )
    if not np.isfinite(matrix).all():
        row, column = np.argwhere(~np.isfinite(matrix))[0]
        raise DataError(f"{path}: row {row}, column {column} holds {matrix[row, column]}, not a finite number.")
    return {
        sample.id: Ranked.from_scores(dict(zip(classes, row, strict=True)))
        for sample, row in zip(samples, matrix.astype(np.float64).tolist(), strict=True)
    }


SCORE_MATRIX = formats.ResultFormat(
    "id",
    formats.label_or_scores,
    '[{"id", "scores": {"verb noun": score, ...every class}}]',
    native=formats.NativeFormat("RareAct's .npy score matrix (rareact.csv lines x class_id)", read_score_matrix),
)


@register_metric(
    "mwap",
    variants=("default",),
    default_variant="default",
    target_fields=("label", "verb", "noun", "annotation", "video_id"),
    result_format=SCORE_MATRIX,
    mode="rank",
    per_sample_mean=False,  # per-sample values are top-1 agreement, which is not what mWAP averages
    headline="mWAP",
    check_target=_check,
    description=(
        "RareAct's mean weighted average precision over its verb-noun classes, as its compute_score.py "
        "(mSAP, n=100, alongside); x100. Per-sample: 1 when the clip's own class ranking first agrees "
        "with its annotation (positive or not)."
    ),
)
def score_mwap(predictions: Sequence[Any], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} samples.")
    actions = [(t["verb"], t["noun"]) for t in targets]
    classes, found = problems(actions, [t["annotation"] for t in targets], [t["video_id"] for t in targets])
    if not found:
        raise FsevalError(
            f"mWAP needs a positive clip (annotation 1) of some class, and none of the {len(targets)} scored has one.",
            hint="Evaluate more samples (--limit) or check the annotations in rareact.csv.",
        )
    scores = score_matrix(predictions, classes)
    rankings = [Ranking.of(problem, scores) for problem in found]
    value = float(mean_weighted_ap(found, rankings, np.ones((1, len(targets))))[0])
    agreement = [
        float((p.top == t["label"]) == (t["annotation"] == 1)) for p, t in zip(predictions, targets, strict=True)
    ]
    return MetricResult(
        value=100 * value,
        per_sample=agreement,
        extra={"mSAP": 100 * mean_sampled_ap(found, rankings)},
        resample=_resampler(found, rankings, len(targets)),
    )


def _resampler(found: Sequence[Problem], rankings: Sequence[Ranking], lines: int) -> Resampler:
    def resample(idx: np.ndarray) -> np.ndarray:
        rows = len(idx)
        counts = np.bincount((idx + lines * np.arange(rows)[:, None]).ravel(), minlength=rows * lines)
        return 100 * mean_weighted_ap(found, rankings, counts.reshape(rows, lines).astype(np.float64))

    return resample
