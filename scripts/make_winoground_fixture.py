"""Record Winoground's own scoring (``statistics/compute_statistics.py`` of the release) on synthetic score files.

The release (huggingface.co/datasets/facebook/winoground) scores a model from a JSON-lines file of
``{"label": "<id>_c<c>_i<i>", "score": s}`` with ``text_correct``, ``image_correct``, ``group_correct``,
``load_results``, ``filter_examples`` and ``get_table_dict`` in ``statistics/compute_statistics.py``. The rest of
that file is a script (it downloads GPT-2, plots figures) run at import, so this takes those six functions out
of the file unchanged (by its syntax tree) and runs them; they need only Python's ``json`` and ``statistics``.
The fixture holds synthetic examples (release field names), score files with many ties and every way an
example can pass or fail, and the official text, image and group scores overall and per ``collapsed_tag``,
``num_main_preds`` and ``secondary_tag`` (``filter_examples``' exact-value match, as its tables use).

The hub repository is gated; a copy of its files at the July 2022 release is the first commit of
github.com/juletx/spatial-reasoning (dbc96525575cca1daaebac106958e05ae1d04677: ``statistics/``,
``data/examples.jsonl``, ``winoground.py``). Regenerate with a throwaway venv (no packages needed):

    git clone https://github.com/juletx/spatial-reasoning /tmp/wino-release
    git -C /tmp/wino-release checkout dbc96525575cca1daaebac106958e05ae1d04677
    python3 -m venv /tmp/wino-venv
    /tmp/wino-venv/bin/python scripts/make_winoground_fixture.py \\
        /tmp/wino-release/statistics/compute_statistics.py tests/fixtures/official_winoground/winoground_cases.json
"""

from __future__ import annotations

import ast
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

OFFICIAL_FUNCTIONS = (
    "text_correct",
    "image_correct",
    "group_correct",
    "load_results",
    "filter_examples",
    "get_table_dict",
)
COLLAPSED = ("Object", "Relation", "Both")
SECONDARY = ("", "", "", "Symbolic", "Pragmatics", "Series", "Symbolic, Series")
FILTERS = [("collapsed_tag", value) for value in COLLAPSED] + [("num_main_preds", 1), ("num_main_preds", 2)]
FILTERS += [("secondary_tag", value) for value in ("Symbolic", "Pragmatics", "Series")]


def official(path: str) -> dict[str, Any]:
    """The six scoring functions of compute_statistics.py, executed from its own text."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    kept = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in OFFICIAL_FUNCTIONS]
    if sorted(node.name for node in kept) != sorted(OFFICIAL_FUNCTIONS):
        raise SystemExit(f"{path} does not define {OFFICIAL_FUNCTIONS}")
    namespace: dict[str, Any] = {}
    exec("import json\nimport statistics\n", namespace)
    exec(compile(ast.Module(body=kept, type_ignores=[]), path, "exec"), namespace)
    return namespace


def examples(count: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "caption_0": f"the {i} dog chases the cat",
            "caption_1": f"the cat chases the {i} dog",
            "image_0": f"ex_{i}_img_0",
            "image_1": f"ex_{i}_img_1",
            "tag": rng.choice(["Noun", "Verb", "Adjective-Age"]),
            "secondary_tag": SECONDARY[i % len(SECONDARY)],
            "num_main_preds": 1 + (i % 3 == 0),
            "collapsed_tag": COLLAPSED[i % len(COLLAPSED)],
        }
        for i in range(count)
    ]


# s(c0,i0), s(c0,i1), s(c1,i0), s(c1,i1): each way an example passes or fails, ties on each comparison.
HAND_MADE = [
    (2, 1, 1, 2),  # all three
    (2, 1, 0, 1),  # image only: text fails on a tie (c1_i1 == c0_i1)
    (2, 0, 1, 3),  # all three
    (1, 1, 0, 2),  # text correct, image tie on c0
    (1, 0, 1, 2),  # image correct, text tie on i0
    (1, 2, 0, 3),  # text correct (1 > 0, 3 > 2), image wrong (1 < 2)
    (3, 0, 4, 1),  # neither: c0_i0 < c1_i0 and c1_i1 < c1_i0
    (2, 1, 3, 4),  # image only, no tie
    (0, 0, 0, 0),  # all tied: none
    (-1.5, -2.5, -3.0, -0.5),  # negative log-likelihoods: all three
    (5, 5, 5, 6),  # ties on c0: text and image fail
]


def score_lines(scores: list[tuple[float, ...]]) -> list[dict[str, Any]]:
    return [
        {"label": f"{i}_{name}", "score": value}
        for i, four in enumerate(scores)
        for name, value in zip(("c0_i0", "c0_i1", "c1_i0", "c1_i1"), four, strict=True)
    ]


def cases(rng: random.Random, count: int) -> dict[str, list[tuple[float, ...]]]:
    hand: list[tuple[float, ...]] = [HAND_MADE[i % len(HAND_MADE)] for i in range(count)]
    few_levels = [tuple(float(rng.randint(0, 2)) for _ in range(4)) for _ in range(count)]
    floats = [tuple(round(rng.gauss(-8, 2), 4) for _ in range(4)) for _ in range(count)]
    return {"hand_made": hand, "three_levels": few_levels, "floats": floats}


def table(functions: dict[str, Any], score_file: str, ids: set[int] | None) -> dict[str, float]:
    row = functions["get_table_dict"]([(score_file, "model", None, None, None)], ids)
    return {"text": row["Text"][0], "image": row["Image"][0], "group": row["Group"][0]}


def record(functions: dict[str, Any], count: int = 40) -> dict[str, Any]:
    rng = random.Random(0)
    found = examples(count, rng)
    out: dict[str, Any] = {"examples": found, "cases": {}}
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # the official functions read data/examples.jsonl from the working folder
        Path("data").mkdir()
        Path("data/examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in found), encoding="utf-8")
        for name, scores in cases(rng, count).items():
            lines = score_lines(scores)
            Path(f"{name}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
            by: dict[str, dict[str, Any]] = {}
            for key, value in FILTERS:
                ids = functions["filter_examples"]({key: value})
                by.setdefault(key, {})[str(value)] = table(functions, f"{name}.jsonl", ids)
            overall = table(functions, f"{name}.jsonl", None)
            out["cases"][name] = {"lines": lines, "overall": overall, "by": by}
    return out


if __name__ == "__main__":
    source, target = sys.argv[1], Path(sys.argv[2]).resolve()
    fixture = {
        "source": "statistics/compute_statistics.py of huggingface.co/datasets/facebook/winoground (July 2022), "
        "as committed in github.com/juletx/spatial-reasoning dbc96525575cca1daaebac106958e05ae1d04677",
        "functions": list(OFFICIAL_FUNCTIONS),
        **record(official(source)),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(fixture, indent=1) + "\n", encoding="utf-8")
