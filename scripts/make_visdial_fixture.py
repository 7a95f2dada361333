"""Record VisDial's official metrics on score matrices, as the fixture fseval's VisDial metric is tested against.

Runs ``visdialch/metrics.py`` of github.com/batra-mlp-lab/visdial-challenge-starter-pytorch at commit
5844f3d5a575e9ec1c1684feb760e7de5c912beb the way its ``evaluate.py`` does on val: ``SparseGTMetrics``
observes each batch's (images, 10 rounds, 100 options) scores with every round's ``gt_index``, and
``NDCG`` the rows of the rounds with a dense annotation (one round of some of the images). The repo pins
torch 1.0.0, which has no wheel for Python 3.11; torch 1.13.1 (CPU use) is the oldest that has one:

    git clone https://github.com/batra-mlp-lab/visdial-challenge-starter-pytorch /tmp/visdial-src
    git -C /tmp/visdial-src checkout 5844f3d5a575e9ec1c1684feb760e7de5c912beb
    python3 -m venv /tmp/visdial-official && /tmp/visdial-official/bin/pip install torch==1.13.1 "numpy<2"
    /tmp/visdial-official/bin/python scripts/make_visdial_fixture.py /tmp/visdial-src \
        tests/fixtures/official_visdial/visdial_cases.json

Scores are small integers (exact in float32 and float64), so many are equal; equal scores rank as
torch's CPU sort leaves them (libstdc++'s ``std::sort``), and one case is deep enough for its heapsort
fallback. Relevances are multiples of 0.2, as the release's. Every NDCG batch has two or more annotated
rows (``NDCG.observe`` squeezes a batch of one into a shape it cannot unpack), and each annotated round
has a relevant option (the official NDCG of a round without one is 0 / 0).
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

OPTIONS, ROUNDS = 100, 10


def make_case(rng: random.Random, images: int, levels: int, annotated: int) -> dict[str, Any]:
    """A random case: ``images`` dialogs of 10 rounds, scores in 0..levels-1, ``annotated`` dense rounds."""
    scores = [[[rng.randrange(levels) for _ in range(OPTIONS)] for _ in range(ROUNDS)] for _ in range(images)]
    gt_index = [[rng.randrange(OPTIONS) for _ in range(ROUNDS)] for _ in range(images)]
    dense = []
    for image in sorted(rng.sample(range(images), annotated)):
        relevance = [rng.choice([0, 0, 0, 0, 0.2, 0.4, 0.6, 0.8, 1.0]) for _ in range(OPTIONS)]
        relevance[rng.randrange(OPTIONS)] = 1.0
        dense.append({"image": image, "round_id": rng.randrange(1, ROUNDS + 1), "gt_relevance": relevance})
    return {"scores": scores, "gt_index": gt_index, "dense": dense}


def fixed_cases() -> list[dict[str, Any]]:
    """Every option tied; the answer always first or always last; relevance on one option only."""
    flat = [[[0] * OPTIONS for _ in range(ROUNDS)] for _ in range(2)]
    first = {"scores": flat, "gt_index": [[0] * ROUNDS, [OPTIONS - 1] * ROUNDS]}
    one = [0.0] * OPTIONS
    one[OPTIONS - 1] = 1.0
    first["dense"] = [
        {"image": 0, "round_id": 1, "gt_relevance": one},
        {"image": 1, "round_id": 10, "gt_relevance": one},
    ]
    rising = [[[j for j in range(OPTIONS)] for _ in range(ROUNDS)] for _ in range(2)]
    all_relevant = [round(0.2 * (1 + j % 5), 1) for j in range(OPTIONS)]
    second = {
        "scores": rising,
        "gt_index": [list(range(ROUNDS)), [OPTIONS - 1 - r for r in range(ROUNDS)]],
        "dense": [{"image": i, "round_id": 5, "gt_relevance": all_relevant} for i in range(2)],
    }
    return [first, second, heapsort_case()]


def heapsort_case() -> dict[str, Any]:
    """Scores on which std::sort (torch's CPU sort of a row) falls back to heapsort, with 75 equal scores.

    Found with McIlroy's adversary ("A killer adversary for quicksort", 1999) played against
    libstdc++'s introsort, leaving equal the scores its heapsort phase compares: -100 at 75 options,
    and 24 distinct scores between them.
    """
    row = [-100] * OPTIONS
    for i in range(1, 24, 2):
        row[i] = -i
    for k, i in enumerate(range(50, 62)):
        row[i] = -2 * k
    scores = [[row] * ROUNDS, [row[::-1]] * ROUNDS]
    gt_index = [[(11 * r) % OPTIONS for r in range(ROUNDS)], [(13 * r + 1) % OPTIONS for r in range(ROUNDS)]]
    relevance = [0.0] * OPTIONS
    for i in (1, 8, 50, 63):
        relevance[i] = 0.6 if i % 2 else 1.0
    dense = [{"image": i, "round_id": 2 + i, "gt_relevance": relevance} for i in range(2)]
    return {"scores": scores, "gt_index": gt_index, "dense": dense}


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in batches of ``size``, a last batch of one joined to the one before (NDCG cannot take it)."""
    found = [items[start : start + size] for start in range(0, len(items), size)]
    if len(found) > 1 and len(found[-1]) == 1:
        found[-2:] = [found[-2] + found[-1]]
    return found


def official(case: dict[str, Any], metrics: Any, torch: Any, batch: int) -> dict[str, float]:
    """The official numbers, observing ``batch`` images at a time as evaluate.py does."""
    sparse, ndcg = metrics.SparseGTMetrics(), metrics.NDCG()
    scores = torch.tensor(case["scores"], dtype=torch.float32)
    gt_index = torch.tensor(case["gt_index"])
    for start in range(0, len(scores), batch):
        sparse.observe(scores[start : start + batch], gt_index[start : start + batch])
    for part in chunks(case["dense"], batch):
        rows = torch.stack([scores[item["image"], item["round_id"] - 1] for item in part])
        ndcg.observe(rows, torch.tensor([item["gt_relevance"] for item in part], dtype=torch.float32))
    found = {**sparse.retrieve(), **ndcg.retrieve()}
    return {key: float(value) for key, value in found.items()}


def main(repo: str, out: str) -> None:
    sys.path.insert(0, repo)
    import torch
    from visdialch import metrics

    rng = random.Random(0)
    cases = fixed_cases()
    cases += [
        make_case(rng, images, levels, annotated) for images, levels, annotated in [(4, 3, 2), (6, 20, 3), (9, 1000, 7)]
    ]
    for case in cases:
        case["official"] = official(case, metrics, torch, batch=4)
        ranks = metrics.scores_to_ranks(torch.tensor(case["scores"], dtype=torch.float32))
        case["ranks"] = ranks.tolist()
    record = {
        "repo": "batra-mlp-lab/visdial-challenge-starter-pytorch",
        "commit": "5844f3d5a575e9ec1c1684feb760e7de5c912beb",
        "torch": torch.__version__,
        "cases": cases,
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(record, handle, separators=(",", ":"))
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
