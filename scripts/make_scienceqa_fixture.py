"""Record ScienceQA's own ``get_scores`` (tools/evaluate_acc.py) on synthetic problems, as fseval's fixture.

``get_scores(result_file, data_file)`` reads a results file (``{"results": {pid: choice index}}``) and a
``problems.json``, scores every problem of its ``test`` split and returns each question set's accuracy
(NAT/SOC/LAN, TXT/IMG/NO, G1-6/G7-12, Avg and the 26 topics) as strings rounded to 2 decimals, -1 for an empty
set. It asserts that the results hold 4241 problems (the real test split); the script runs it under
``python -O``, which leaves asserts out, so that a small synthetic split can be scored. The cases hold every
subject, context kind, grade and topic, answers right and wrong, and an IMG-only split (fseval's subset).

    git clone https://github.com/lupantech/ScienceQA /tmp/ScienceQA
    git -C /tmp/ScienceQA checkout 2cbf8318e07b9ece895bb2ae605e71e38d623264
    /root/.pyenv/versions/3.10.13/bin/python -m venv /tmp/sqa   # any Python 3.10
    /tmp/sqa/bin/pip install pandas==1.4.3 numpy==1.23.2         # the pins of its requirements.txt
    /tmp/sqa/bin/python -O scripts/make_scienceqa_fixture.py /tmp/ScienceQA \\
        tests/fixtures/official_scienceqa/scienceqa_cases.json
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

COMMIT = "2cbf8318e07b9ece895bb2ae605e71e38d623264"
SUBJECTS = ("natural science", "social science", "language science")
TOPICS = [
    "punctuation",
    "literacy-in-science",
    "verbs",
    "pronouns",
    "civics",
    "culture",
    "word-study",
    "economics",
    "physics",
    "units-and-measurement",
    "science-and-engineering-practices",
    "reading-comprehension",
    "global-studies",
    "grammar",
    "figurative-language",
    "us-history",
    "writing-strategies",
    "world-history",
    "reference-skills",
    "biology",
    "earth-science",
    "phonological-awareness",
    "capitalization",
    "chemistry",
    "vocabulary",
    "geography",
]
EXTRA_TOPIC = "a-topic-get-scores-does-not-list"


def problems(seed: int, count: int, image_only: bool) -> dict[str, dict[str, Any]]:
    """``count`` test problems (and a few train ones, which get_scores leaves out), every group represented."""
    rng = random.Random(seed)
    found: dict[str, dict[str, Any]] = {}
    for n in range(count + 4):
        choices = [f"choice {k}" for k in range(rng.randint(2, 5))]
        context = rng.choice(["image"] if image_only else ["text", "image", "both", "none"])
        found[str(3 * n + 7)] = {
            "question": f"Question {n}?",
            "choices": choices,
            "answer": rng.randrange(len(choices)),
            "hint": f"Hint {n}." if context in ("text", "both") else "",
            "image": "image.png" if context in ("image", "both") else None,
            "task": "closed choice",
            "grade": f"grade{n % 12 + 1}",
            "subject": SUBJECTS[n % 3],
            "topic": ([*TOPICS, EXTRA_TOPIC] if image_only else TOPICS)[n % (len(TOPICS) + image_only)],
            "category": "Category",
            "skill": "Skill",
            "lecture": "",
            "solution": "",
            "split": "test" if n < count else "train",
        }
    return found


def predictions(seed: int, found: dict[str, dict[str, Any]], right: float) -> dict[str, int]:
    """A chosen index per test problem: the answer with probability ``right``, else another choice."""
    rng = random.Random(seed + 1)
    chosen = {}
    for pid, problem in found.items():
        if problem["split"] == "test":
            n, answer = len(problem["choices"]), problem["answer"]
            chosen[pid] = answer if rng.random() < right else (answer + rng.randrange(1, n)) % n
    return chosen


def case(get_scores: Any, seed: int, count: int, image_only: bool, right: float) -> dict[str, Any]:
    found = problems(seed, count, image_only)
    results = predictions(seed, found, right)
    with tempfile.TemporaryDirectory() as folder:
        data_file, result_file = Path(folder) / "problems.json", Path(folder) / "results.json"
        data_file.write_text(json.dumps(found))
        result_file.write_text(json.dumps({"results": results}))
        scores = get_scores(str(result_file), str(data_file))
    return {"problems": found, "results": results, "scores": {k: str(v) for k, v in scores.items()}}


def main(official: Path, out: Path) -> None:
    if __debug__:
        sys.exit("Run with python -O: get_scores asserts that the results hold the 4241 real test problems.")
    sys.path.insert(0, str(official / "tools"))
    import pandas
    from evaluate_acc import get_scores  # type: ignore[import-not-found]

    cases = [
        case(get_scores, seed=0, count=120, image_only=False, right=0.6),
        case(get_scores, seed=1, count=60, image_only=True, right=0.5),
        case(get_scores, seed=2, count=7, image_only=False, right=0.3),  # small: some groups empty (-1)
    ]
    record = {"repository": "lupantech/ScienceQA", "commit": COMMIT, "function": "tools/evaluate_acc.py get_scores"}
    record |= {"pandas": pandas.__version__, "cases": cases}
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
