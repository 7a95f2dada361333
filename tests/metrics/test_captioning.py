"""The 'caption' metric against pycocoevalcap's scorers run the COCOEvalCap way (SPICE aside)."""

from __future__ import annotations

import statistics
import subprocess
import threading
import warnings
from typing import Any

import numpy as np
import pytest
from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

from fseval.errors import FsevalError
from fseval.metrics import captioning
from fseval.metrics.captioning import python_tokenize, score_captions
from fseval.metrics.registry import METRICS

pytestmark = [pytest.mark.skipif(captioning.shutil.which("java") is None, reason="needs Java"), pytest.mark.slow]

REFERENCES = [
    ["A man riding a wave on top of a surfboard.", "A surfer rides a large wave.", "a man surfing, in the ocean",
     "A person on a surf board (riding) a wave!", "The surfer's board is white."],
    ["Two dogs playing with a red frisbee in the park.", "Dogs chase a frisbee on the grass.",
     "two dogs don't share the frisbee", "A black-and-white dog jumps; another watches.", "Dogs at the park..."],
    ["A plate of food with broccoli and rice.", "A \"healthy\" meal on a white plate.",
     "Food: rice, broccoli, chicken.", "A plate that's full of food", "Dinner is served at 7 p.m. in the U.S."],
    ["A red double-decker bus on a city street.", "The bus is parked by the curb.", "A bus, red and tall",
     "A London bus - driving down the road", "A tourist bus in St. Louis"],
]  # fmt: skip
PREDICTIONS = ["A man riding a surfboard on a wave.", "two dogs play with a frisbee", "a plate of rice and broccoli",
               "A red bus driving down the street."]  # fmt: skip
OTHER_REFERENCES = [
    ["A cat sleeping on a couch.", "A cat is asleep.", "The kitten naps on the sofa."],
    ["A kitchen with a stove and an oven.", "An empty kitchen.", "A kitchen; white cabinets."],
]
OTHER_PREDICTIONS = ["a cat on a couch", "a kitchen with an oven"]


def targets(references: list[list[str]]) -> list[dict[str, Any]]:
    return [{"references": refs} for refs in references]


def coco_eval_cap_scores(predictions: list[str], references: list[list[str]], meteor: Any) -> dict[str, Any]:
    """What COCOEvalCap.evaluate() computes, with the given Meteor and fresh other scorers, without SPICE."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {i: [{"image_id": i, "caption": r} for r in refs] for i, refs in enumerate(references)}
    res = {i: [{"image_id": i, "caption": p}] for i, p in enumerate(predictions)}
    tokenizer = PTBTokenizer()
    gts, res = tokenizer.tokenize(gts), tokenizer.tokenize(res)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"BLEU-{n + 1}": bleu[n] for n in range(4)}
    out["METEOR"], _ = meteor.compute_score(gts, res)
    out["ROUGE-L"], _ = Rouge().compute_score(gts, res)
    out["CIDEr"], out["per_image"] = Cider().compute_score(gts, res)
    return out


@pytest.fixture(scope="module")
def scored() -> dict[str, Any]:
    """COCOEvalCap's way on B with a fresh METEOR process, then our metric on A, B and A again on that process.

    A METEOR JVM takes seconds to start, so the whole module uses one: pycocoevalcap's own Meteor scores B
    while fresh, becomes fseval's shared process, and must give B the same score after it has scored A.
    """
    from pycocoevalcap.meteor.meteor import Meteor

    meteor = Meteor()
    reference_b = coco_eval_cap_scores(OTHER_PREDICTIONS, OTHER_REFERENCES, meteor)
    captioning._close_meteor()
    captioning._meteor, captioning._meteor_pid = meteor, captioning.os.getpid()
    a = score_captions(PREDICTIONS, targets(REFERENCES), "ptb")
    b = score_captions(OTHER_PREDICTIONS, targets(OTHER_REFERENCES), "ptb")
    a_again = score_captions(PREDICTIONS, targets(REFERENCES), "ptb")
    reference_a = coco_eval_cap_scores(PREDICTIONS, REFERENCES, meteor)
    same_process = captioning._meteor is meteor
    return {"a": a, "b": b, "a_again": a_again, "ref_a": reference_a, "ref_b": reference_b, "same": same_process}


@pytest.fixture(scope="module")
def result(scored: dict[str, Any]) -> Any:
    return scored["a"]


def test_registered() -> None:
    metric = METRICS["caption"]
    assert metric.variants == ("ptb", "python")
    assert metric.default_variant == "ptb"


@pytest.mark.parametrize("name", ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"])
@pytest.mark.parametrize("which", ["a", "b"])
def test_equals_coco_eval_cap(scored: dict[str, Any], which: str, name: str) -> None:
    assert scored[which].extra[name] == 100 * float(scored[f"ref_{which}"][name])


def test_value_and_per_sample_are_cider(result: Any, scored: dict[str, Any]) -> None:
    assert result.value == 100 * float(scored["ref_a"]["CIDEr"])
    assert result.per_sample == [float(s) for s in scored["ref_a"]["per_image"]]
    # CIDEr is the mean of the per-image scores (numpy's mean; exact up to summation order).
    assert result.value == 100 * float(np.mean(result.per_sample))
    assert result.value == pytest.approx(100 * statistics.fmean(result.per_sample), rel=1e-12)


def test_meteor_process_is_reused_and_stateless(scored: dict[str, Any]) -> None:
    assert scored["same"]
    assert scored["b"].extra["METEOR"] == 100 * scored["ref_b"]["METEOR"]  # scored after A == scored fresh
    assert scored["a_again"] == scored["a"]


class FailingMeteor:
    """Stands in for pycocoevalcap's Meteor: fails part-way through compute_score, holding its lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.meteor_p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def compute_score(self, gts: Any, res: Any) -> Any:
        self.lock.acquire()
        raise BrokenPipeError("METEOR died")


def test_meteor_restarts_after_a_failed_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import pycocoevalcap.meteor.meteor

    monkeypatch.setattr(captioning, "_meteor", None)  # the shared process is put back afterwards
    monkeypatch.setattr(pycocoevalcap.meteor.meteor, "Meteor", FailingMeteor)
    with pytest.raises(BrokenPipeError):
        captioning.meteor_score({0: ["a cat"]}, {0: ["a cat"]})
    assert captioning._meteor is None  # the next call starts a new process
    failed = FailingMeteor()
    monkeypatch.setattr(captioning, "_meteor", failed)
    monkeypatch.setattr(captioning, "_meteor_pid", captioning.os.getpid())
    with pytest.raises(BrokenPipeError):
        captioning.meteor_score({0: ["a cat"]}, {0: ["a cat"]})
    assert failed.meteor_p.poll() is not None
    assert not failed.lock.locked()  # else Meteor.__del__ would hang at exit


def test_line_breaks_do_not_shift_captions() -> None:
    # Java ends lines at \r, \v, \f, U+2028, U+2029 too; unreplaced they move every later caption to the wrong image.
    tokenized = captioning.ptb_tokenize({0: ["a\rb\u2028c"], 1: ["d\ne"], 2: ["f"]})
    assert tokenized == {0: ["a b c"], 1: ["d e"], 2: ["f"]}


# (caption, what pycocoevalcap's Java PTB tokenisation gives, which python_tokenize reproduces)
TOKENIZATION = [
    ("A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard"),
    ("Two dogs, one cat; three birds: four fish!", "two dogs one cat three birds four fish"),
    ("A man (in a hat) [red] {x}", "a man -lrb- in a hat -rrb- -lsb- red -rsb- -lcb- x -rcb-"),
    ("He doesn't like it; she can't, won't, cannot.", "he does n't like it she ca n't wo n't can not"),
    ("The dog's bone and the dogs' toys.", "the dog 's bone and the dogs toys"),
    ("I'd've gone, they'll go, we're here, I'm gonna", "i 'd 've gone they 'll go we 're here i 'm gon na"),
    ("\"Hello,\" she said, 'quoted' text.", "hello she said quoted text"),
    ("“Fancy” ‘single’ — dash – en … don’t", "fancy single dash en do n't"),
    ("A black-and-white photo -- with dashes - and more...", "a black-and-white photo with dashes and more"),
    ("It costs $5.50, 50% off, at 3:30 p.m. with 1,000 fans.", "it costs $ 5.50 50 % off at 3:30 p.m. with 1,000 fans"),
    ("Mr. Smith at St. Louis in the U.S. etc.", "mr. smith at st. louis in the u.s. etc."),
    ("no. 5 but no.", "no. 5 but no"),
    ("from Jan. to Mar..", "from jan. to mar."),
    ("in the U.S....", "in the u.s."),
    ("AT&T and a&b and/or 4x4 trucks #1 #tag", "at&t and a & b and/or 4x4 trucks # 1 #tag"),
    ("Wow!? Yes!!", "wow !? yes !!"),
    ("rock'n'roll at 5 o'clock, ma'am; y'all 'tis", "rock 'n' roll at 5 o'clock ma'am y' all 't is"),
    ("the '80s and the 1950's car", "the '80s and the 1950 's car"),
    ("a 12-year-old boy's t-shirt", "a 12-year-old boy 's t-shirt"),
    ("visit http://www.x.com/a?b=1. or foo@bar.com.", "visit http://www.x.com/a?b=1 or foo@bar.com"),
    ("a man*with* ~x |y| a+b = c", "a man * with * ~ x | y | a + b = c"),
    ("1 1/2 cups", "1\u00a01/2 cups"),
    ("   ", ""),
    ("", ""),
]


@pytest.mark.parametrize(("caption", "expected"), TOKENIZATION)
def test_python_tokenize(caption: str, expected: str) -> None:
    assert python_tokenize(caption) == expected


def test_python_tokenize_table_matches_java() -> None:
    captions = [caption for caption, _ in TOKENIZATION]
    java = captioning.ptb_tokenize({i: [c] for i, c in enumerate(captions)})
    assert [java[i][0] for i in range(len(captions))] == [expected for _, expected in TOKENIZATION]
    assert not {t for _, expected in TOKENIZATION for t in expected.split(" ")} & set(PUNCTUATIONS)


def test_python_variant_close_to_ptb(result: Any) -> None:
    python = score_captions(PREDICTIONS, targets(REFERENCES), "python")
    assert python.value == pytest.approx(result.value, abs=1e-9)
    assert python.extra == pytest.approx(result.extra, abs=1e-9)


def test_without_java(monkeypatch: pytest.MonkeyPatch, result: Any) -> None:
    monkeypatch.setattr(captioning.shutil, "which", lambda name: None)
    with pytest.raises(FsevalError) as error:
        score_captions(PREDICTIONS, targets(REFERENCES), "ptb")
    assert "default-jre-headless" in str(error.value)
    assert "--metric-variant python" in str(error.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        python = score_captions(PREDICTIONS, targets(REFERENCES), "python")
    assert "METEOR" not in python.extra
    assert any("METEOR" in str(w.message) for w in caught)
    assert python.value == pytest.approx(result.value, abs=1e-9)


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [(["a"], [], "1 captions for 0 images"), ([], [], "No captions"), (["a"], [[]], "no reference captions")],
)
def test_bad_inputs(predictions: list[str], references: list[list[str]], message: str) -> None:
    with pytest.raises(FsevalError, match=message):
        score_captions(predictions, targets(references), "ptb")


def test_java_tokenizer_output_is_kept_out_of_the_terminal_and_in_the_error(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from pycocoevalcap.tokenizer import ptbtokenizer

    assert captioning.ptb_tokenize({1: ["A dog, running."]}) == {1: ["a dog running"]}
    assert "PTBTokenizer" not in capfd.readouterr().err  # its progress line would cut into the progress bars
    monkeypatch.setattr(ptbtokenizer, "STANFORD_CORENLP_3_4_1_JAR", "no-such.jar")
    with pytest.raises(FsevalError, match="it said: Error: Could not find or load main class"):
        captioning.ptb_tokenize({1: ["A dog."]})
    assert ptbtokenizer.subprocess is subprocess  # put back
