"""Record VL-ICL Bench's own demo draws and scores on the synthetic release, as the fixture fseval is tested against.

Runs the official ``utils/ICL_utils.py`` ``select_demonstration`` and ``evals/eval.py`` ``eval_scores`` of
github.com/ys-zong/VL-ICL at the pinned commit on tests/fixtures/vl_icl/<dataset>/{query,support}.json:

- demos: for seeds 0 and 1 and each dataset, the loop of ``I2T_inference.py``: the seed set once
  (``utils.set_random_seed``, whose only effect on Python's ``random`` stream is ``random.seed(seed)``),
  then for each shot count of its default ``--n_shot`` (0 1 2 4 8), for each query in file order, the demos
  ``select_demonstration(support, shots, dataset, query)`` returns, recorded as returned (ints stay ints);
- scores: hand-written (prediction, answer) cases per dataset covering each quirk of the official cut and
  comparison, each scored by ``eval_scores`` on a one-element list, and the whole list scored at once.

``evals/eval.py`` imports torch at module top but never uses it for these metrics: an empty module stands in
for it (no torch is installed). Regenerate (Python 3.11.7, numpy 1.26.4):

    python3 -m venv /tmp/vlicl-venv && /tmp/vlicl-venv/bin/pip install numpy==1.26.4
    mkdir -p /tmp/vlicl && git --git-dir=/work/.mirror/ys-zong+VL-ICL/repo archive \\
        2b77eee609e9a6049109f8eb9e546794e5d8511b | tar -x -C /tmp/vlicl
    /tmp/vlicl-venv/bin/python scripts/make_vl_icl_fixture.py /tmp/vlicl tests/fixtures/vl_icl/official.json
"""

from __future__ import annotations

import json
import platform
import random
import sys
import types
from pathlib import Path
from typing import Any

COMMIT = "2b77eee609e9a6049109f8eb9e546794e5d8511b"
RELEASE = Path(__file__).parents[1] / "tests" / "fixtures" / "vl_icl"
SEEDS = (0, 1)
SHOTS = (0, 1, 2, 4, 8)

_TEXT = [
    ("STOP", "STOP"),
    ("stop", "STOP"),  # case is ignored
    ("  STOP \t", "STOP"),
    ("\nSTOP", "STOP"),  # a leading newline is stripped before the cut
    ("\u00a0STOP\u2028", "STOP"),  # str.strip removes Unicode whitespace too
    ("STOP\nmore text", "STOP"),
    ("STOP \nmore text", "STOP"),  # the space before the newline stays
    ("STOP.", "STOP"),
    ("STOP. Then go", "STOP"),
    ("STOP .", "STOP"),  # the space before the period stays
    ("Main St.", "Main St."),  # an answer with a period can never match
    ("No.5", "No.5"),
    (".STOP", ".STOP"),  # a period in the first position cuts nothing
    ("..", "."),
    ("3.5\nx", "3.5"),  # the newline cut wins over the earlier period
    ("3.5", "3.5"),
    ("The year 2024", "2024"),  # no digit extraction for textocr
    ("STOP sign", "STOP"),
    ("", "STOP"),
    (" \t\n ", "STOP"),
]
_COUNT = [
    ("3", 3),
    ("3.", 3),
    (" 3\n", 3),
    ("3 objects", 3),  # clevr compares the whole cut text: no digit extraction
    ("There are 3.", 3),
    ("03", 3),
    ("three", 3),
    ("0", 0),
    ("", 0),
    ("7\n8", 7),
]
_OPERATOR = [
    ("8", 8),
    ("The answer is 8", 8),
    ("8 + 1 = 9", 9),  # the first run of digits, not the result
    ("3 + 5 = 8", 8),
    ("-5", -5),  # no sign is read: a negative answer never matches
    ("-5", 5),
    ("12.5", 12),  # the period cut comes first
    ("1.5", 15),
    ("x\n42", 42),  # cut to "x": no digits, compared as ""
    ("\n42", 42),
    (".5", 5),  # a period in the first position cuts nothing
    ("\u0664\u0662", 42),  # Arabic-Indic digits match \d but are not "42"
    ("007", 7),
    ("20\n", 20),
    ("", 0),
    ("zero", 0),
    ("64", 64),
]
_CLASSES = [
    ("dax", "dax"),
    ("Dax", "dax"),
    ("dax.", "dax"),
    ("DAX. It is a toy", "dax"),
    ("dax\nblicket", "dax"),
    ("a dax", "dax"),
    ("dax!", "dax"),
    ("blicket", "dax"),
    ("", "dax"),
]
_YES_NO = [
    ("yes", "yes"),
    ("Yes", "yes"),
    ("YES!", "yes"),
    ("eyes", "yes"),  # "yes" anywhere in the cut text
    ("eyes", "no"),
    ("no", "no"),
    ("no", "yes"),
    ("", "no"),  # no "yes": right for "no"
    ("", "yes"),
    ("maybe", "no"),
    ("No. yes", "no"),  # cut at the period
    ("No\nyes", "no"),
    ("no, yes", "yes"),
    ("The answer is yes.", "yes"),
    (".yes", "yes"),
    ("\n\nyes", "yes"),
    ("yes", "Yes"),  # the answer's case is ignored too
    ("yes", "YES"),
    ("yes", "maybe"),  # an answer other than yes/no is never right
    ("no", "maybe"),
]
CASES: dict[str, list[tuple[str, Any]]] = {
    "textocr": _TEXT,
    "clevr": _COUNT,
    "open_mi": _CLASSES,
    "operator_induction": _OPERATOR,
    "operator_induction_interleaved": _OPERATOR[:8],
    "matching_mi": _YES_NO,
}


def load_official(checkout: Path) -> tuple[Any, Any]:
    """(select_demonstration, eval_scores) imported from the checkout, torch stubbed."""
    sys.modules.setdefault("torch", types.ModuleType("torch"))
    sys.path.insert(0, str(checkout))
    from evals.eval import eval_scores
    from utils.ICL_utils import select_demonstration

    return select_demonstration, eval_scores


def draws(select_demonstration: Any, dataset: str, seed: int) -> dict[str, list[list[dict[str, Any]]]]:
    """Per shot count, each query's demos, drawn as I2T_inference.py draws them for ``seed``."""
    queries = json.loads((RELEASE / dataset / "query.json").read_text())
    support = json.loads((RELEASE / dataset / "support.json").read_text())
    random.seed(seed)
    return {
        str(shots): [select_demonstration(support, shots, dataset, query=query) for query in queries] for shots in SHOTS
    }


def scores(eval_scores: Any, dataset: str) -> dict[str, Any]:
    results = [{"prediction": prediction, "answer": answer} for prediction, answer in CASES[dataset]]
    return {
        "cases": [{**result, "score": float(eval_scores([result], dataset))} for result in results],
        "score": float(eval_scores(results, dataset)),
    }


def main(checkout: Path, out: Path) -> None:
    import numpy

    select_demonstration, eval_scores = load_official(checkout)
    record = {
        "commit": COMMIT,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "shots": list(SHOTS),
        "seeds": {str(seed): {d: draws(select_demonstration, d, seed) for d in CASES} for seed in SEEDS},
        "scores": {d: scores(eval_scores, d) for d in CASES},
    }
    out.write_text(one_query_a_line(record) + "\n", encoding="utf-8")


def one_query_a_line(record: dict[str, Any]) -> str:
    """Indented JSON, except that each query's list of demos stands on one line."""
    lines: list[str] = []

    def placeholder(demos: list[dict[str, Any]]) -> str:
        lines.append(json.dumps(demos, ensure_ascii=False))
        return f"@{len(lines) - 1}@"

    seeds = record["seeds"]
    packed = {
        seed: {
            d: {n: [placeholder(q) for q in per_query] for n, per_query in by_shot.items()} for d, by_shot in ds.items()
        }
        for seed, ds in seeds.items()
    }
    text = json.dumps({**record, "seeds": packed}, indent=1, ensure_ascii=False)
    for i, line in enumerate(lines):
        text = text.replace(f'"@{i}@"', line, 1)
    return text


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
