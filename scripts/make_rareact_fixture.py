"""Record RareAct's own ``compute_score.py`` (mWAP, mSAP) on a set of cases: the fixture fseval's ``mwap`` is tested on.

The official script (github.com/antoine77340/RareAct, commit e9166df56e353783f7f0eab31ef19ab18137fbf9) reads
``rareact.csv`` from its working folder and a ``.npy`` score matrix named on its command line, and prints
``mWAP x`` or, given a draw count n, ``mSAP (n = n) x``. This script writes each case's csv and matrix into
a temporary folder and runs the script there, unchanged, in its own environment:

    git clone https://github.com/antoine77340/RareAct /tmp/RareAct
    git -C /tmp/RareAct checkout e9166df56e353783f7f0eab31ef19ab18137fbf9
    python3.11 -m venv /tmp/rareact-venv
    /tmp/rareact-venv/bin/pip install scikit-learn==1.5.2 pandas==2.2.3 numpy==1.26.4
    /tmp/rareact-venv/bin/python scripts/make_rareact_fixture.py /tmp/RareAct \
        tests/fixtures/official_rareact/rareact_cases.json

mSAP draws from Python's ``random`` unseeded and visits each list's videos in a ``set``'s order, so the
official number changes from run to run. For mSAP the script is run through ``runpy`` after
``random.seed(seed)``, with ``set`` in its globals replaced by an insertion-ordered set (a ``dict``): one of
the runs the official code can make, the one whose draws fseval makes from ``random.Random(seed)``. Python
3.11's ``random`` (as fseval's) draws them. ``mwap`` is the plain run. The cases cover every branch of the
script: annotations 0 to 4, classes sharing the verb, the noun, both or neither, classes without a positive
(left out of the mean), several lines of one video in a list (weights below one), one clip on several lines,
ties (one threshold per run of equal scores), all scores equal, perfect and inverted rankings, and seeded
random cases, one of them the first 400 lines of the real ``rareact.csv`` (Apache-2.0).
"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import sklearn

COMMIT = "e9166df56e353783f7f0eab31ef19ab18137fbf9"
COLUMNS = ["id", "video_id", "start", "end", "class_id", "verb", "noun", "annotation"]

SEEDED_RUN = """
import random, runpy, sys


class InsertionOrderedSet(dict):
    def add(self, item):
        self[item] = None


script, seed = sys.argv[1], int(sys.argv[2])
random.seed(seed)
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, init_globals={"set": InsertionOrderedSet}, run_name="__main__")
"""

CLASSES = [("cut", "apple"), ("cut", "bread"), ("peel", "apple"), ("throw", "shirt"), ("peel", "bread")]

# (video, class_id, annotation): class 0 has all five annotations and two positive lines of one video; a
# positive of class 1 shares its video with a negative of class 0; class 3 has no positive.
HAND_LINES = [
    ("vA", 0, 1), ("vA", 0, 1), ("vB", 0, 0), ("vC", 0, 2), ("vC", 0, 3), ("vD", 0, 4),
    ("vE", 1, 1), ("vF", 1, 0), ("vB", 1, 1), ("vG", 2, 1), ("vG", 2, 0), ("vH", 3, 0),
    ("vI", 3, 3), ("vJ", 4, 1), ("vA", 4, 2), ("vK", 4, 1), ("vK", 4, 1), ("vL", 2, 4),
]  # fmt: skip


def seeded_scores(seed: int, rows: int, columns: int, levels: int) -> list[list[float]]:
    """Scores k / levels with k drawn from ``random.Random(seed)``, row by row (few levels: many ties)."""
    rng = random.Random(seed)
    return [[rng.randint(0, levels) / levels for _ in range(columns)] for _ in range(rows)]


def lines_of(rows: list[tuple[str, int, int]], classes: list[tuple[str, str]]) -> list[list[object]]:
    return [
        [i, video, 10 * i, 10 * i + 10, class_id, *classes[class_id], annotation]
        for i, (video, class_id, annotation) in enumerate(rows)
    ]


def random_lines(seed: int, count: int, verbs: int, nouns: int, videos: int) -> list[list[object]]:
    """Lines over a verbs x nouns grid of classes (some missing), annotations weighted like the real file's."""
    rng = random.Random(seed)
    grid = [(f"verb{v}", f"noun{n}") for v in range(verbs) for n in range(nouns)]
    classes = sorted(rng.sample(grid, k=max(2, len(grid) * 2 // 3)))
    rows = [
        (f"video{rng.randrange(videos)}", rng.randrange(len(classes)), rng.choices(range(5), (28, 26, 2, 38, 6))[0])
        for _ in range(count)
    ]
    return lines_of(rows, classes)


def real_lines(checkout: Path, count: int) -> list[list[object]]:
    with (checkout / "rareact.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    return [[int(r[c]) if c not in ("video_id", "verb", "noun") else r[c] for c in COLUMNS] for r in rows]


def cases(checkout: Path) -> list[dict[str, object]]:
    hand = lines_of(HAND_LINES, CLASSES)
    found: list[dict[str, object]] = [
        {"name": "every branch, ties", "lines": hand, "scores": {"seed": 1, "columns": 5, "levels": 3}},
        {"name": "every branch, distinct", "lines": hand, "scores": {"seed": 2, "columns": 5, "levels": 10**6}},
        {"name": "all scores equal", "lines": hand, "scores": [[0.5] * 5 for _ in hand]},
        {
            "name": "perfect",
            "lines": hand,
            "scores": [[float(ln[7] == 1 and ln[4] == c) for c in range(5)] for ln in hand],
        },
        {
            "name": "inverted",
            "lines": hand,
            "scores": [[float(ln[7] != 1 or ln[4] != c) for c in range(5)] for ln in hand],
        },
        {
            "name": "positives only",
            "lines": lines_of([("vA", 0, 1), ("vB", 0, 1), ("vB", 0, 1)], CLASSES[:1]),
            "scores": [[0.3], [0.1], [0.3]],
        },
        {
            "name": "positives and hard negatives only",
            "lines": lines_of([("vA", 0, 1), ("vB", 0, 3), ("vC", 1, 1), ("vC", 0, 2)], CLASSES[:2]),
            "scores": [[0.2, 0.9], [0.4, 0.1], [0.2, 0.5], [0.1, 0.5]],
        },
    ]
    for seed, (count, verbs, nouns, videos, levels) in enumerate(
        [(60, 3, 3, 12, 3), (200, 4, 5, 30, 1000), (300, 6, 6, 40, 10**6), (120, 2, 8, 6, 5)], start=10
    ):
        lines = random_lines(seed, count, verbs, nouns, videos)
        columns = 1 + max(int(str(line[4])) for line in lines)
        found.append(
            {
                "name": f"random {count} lines",
                "lines": lines,
                "scores": {"seed": seed, "columns": columns, "levels": levels},
            }
        )
    found.append(
        {
            "name": f"rareact.csv at {COMMIT[:7]}, first 400 lines",
            "lines": real_lines(checkout, 400),
            "scores": {"seed": 20, "columns": 149, "levels": 20},
        }
    )
    return found


def matrix(case: dict[str, object]) -> list[list[float]]:
    scores = case["scores"]
    if isinstance(scores, dict):
        return seeded_scores(scores["seed"], len(case["lines"]), scores["columns"], scores["levels"])  # type: ignore[arg-type]
    return scores  # type: ignore[return-value]


def official(script: Path, case: dict[str, object], draws: int = 0, seed: int = 0) -> float:
    """The number the official script prints for the case (mWAP, or mSAP with ``draws`` from ``seed``)."""
    with tempfile.TemporaryDirectory() as folder:
        with open(Path(folder) / "rareact.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            writer.writerows(case["lines"])  # type: ignore[arg-type]
        np.save(Path(folder) / "predictions.npy", np.asarray(matrix(case), dtype=np.float64))
        if draws:
            command = [sys.executable, "-c", SEEDED_RUN, str(script), str(seed), "predictions.npy", str(draws)]
        else:
            command = [sys.executable, str(script), "predictions.npy"]
        output = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True).stdout
    match = re.fullmatch(r"(?:mWAP|mSAP \(n = \d+\)) (\S+)\n", output)
    assert match, output
    return float(match.group(1))


if __name__ == "__main__":
    checkout, target = Path(sys.argv[1]), Path(sys.argv[2])
    script = checkout / "compute_score.py"
    recorded = []
    for case in cases(checkout):
        case["mwap"] = official(script, case)
        case["msap"] = [
            {"draws": draws, "seed": seed, "value": official(script, case, draws, seed)}
            for draws, seed in ((1, 0), (7, 3), (100, 0))
        ]
        recorded.append(case)
        print(case["name"], case["mwap"], [m["value"] for m in case["msap"]])  # type: ignore[index]
    record = {
        "source": f"github.com/antoine77340/RareAct compute_score.py at {COMMIT}",
        "python": sys.version.split()[0],
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "columns": COLUMNS,
        "cases": recorded,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(record, handle, separators=(",", ":"))
        handle.write("\n")
