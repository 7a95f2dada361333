"""Record scikit-learn's ``roc_auc_score`` on a set of cases, as the fixture fseval's ROC AUC is tested against.

OpenFlamingo scores Hateful Memes with ``sklearn.metrics.roc_auc_score`` of P(yes); fseval computes the
same statistic itself (no scikit-learn dependency). Run this in a throwaway venv with the pinned
scikit-learn, not in fseval's environment, so the fixture records the official implementation:

    python3 -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-learn==1.5.2 "numpy<2.2"
    /tmp/sk/bin/python scripts/make_roc_auc_fixture.py tests/fixtures/official_auc/roc_auc_cases.json
"""

from __future__ import annotations

import json
import random
import sys

import sklearn
from sklearn.metrics import roc_auc_score


def cases() -> list[dict[str, object]]:
    """Hand-picked edge cases (ties, perfect, inverted) and seeded random ones, some with many ties."""
    fixed = [
        ([1, 0], [0.9, 0.1]),
        ([1, 0], [0.1, 0.9]),
        ([1, 0], [0.5, 0.5]),
        ([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]),
        ([0, 1, 0, 1, 1], [0.2, 0.2, 0.2, 0.2, 0.9]),
        ([1, 0, 1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]),
    ]
    rng = random.Random(0)
    found = [{"labels": labels, "scores": scores} for labels, scores in fixed]
    for n, levels in ((10, None), (40, 5), (200, None), (500, 20)):
        labels = [rng.randint(0, 1) for _ in range(n)]
        labels[:2] = [0, 1]  # both classes
        scores = [round(rng.random(), 6) if levels is None else rng.randint(0, levels) / levels for _ in range(n)]
        found.append({"labels": labels, "scores": scores})
    for case in found:
        case["roc_auc"] = float(roc_auc_score(case["labels"], case["scores"]))
    return found


if __name__ == "__main__":
    record = {"scikit_learn": sklearn.__version__, "function": "sklearn.metrics.roc_auc_score", "cases": cases()}
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
