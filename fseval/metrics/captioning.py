"""Caption metrics as the COCO caption evaluation computes them (pycocoevalcap; Chen et al. 2015).

``COCOEvalCap.evaluate()`` in pycocoevalcap's ``eval.py`` groups captions by image id as
``{id: [{"caption": ...}]}``, PTB-tokenises references and predictions (Stanford PTBTokenizer,
Java, ``-preserveLines -lowerCase``, then drops the tokens in its ``PUNCTUATIONS`` list) and runs
``Bleu(4)``, ``Meteor``, ``Rouge``, ``Cider`` and ``Spice``. fseval does the same with the same
pycocoevalcap classes, without SPICE (it downloads Stanford CoreNLP and fails offline), so the
numbers are identical to ``COCOEvalCap`` with the SPICE scorer removed. Each sample is its own
"image", keyed by its index. CIDEr is CIDEr-D (sigma 6, clipping; IDF from the evaluated
references); papers report it x100.

Variants:

- ``ptb`` (default): the Java PTB tokenizer, exactly as pycocoevalcap runs it.
- ``python``: :func:`python_tokenize`, a pure-Python approximation of that tokenisation for
  machines without Java. METEOR is a Java program too, so without Java it is left out of
  ``extra``. ``benchmarks/caption_tokenizer_deviation.py`` measures how far it is from ``ptb``.

One METEOR process (a JVM that takes seconds to start) serves every call in a Python process; it
is started on first use and stopped at exit.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fseval.errors import FsevalError
from fseval.metrics import formats
from fseval.metrics.registry import MetricResult, register_metric

VARIANTS = ("ptb", "python")
# |CIDEr x100 (python) - CIDEr x100 (ptb)| measured by benchmarks/caption_tokenizer_deviation.py.
PYTHON_CIDER_DEVIATION = (
    "CIDEr within 0.01 of the Java tokenizer's on COCO-style captions, 0.3 on captions stuffed with random punctuation"
)
JAVA_INSTALL = "apt-get install default-jre-headless"

# Java ends a line at each of these; pycocoevalcap replaces only "\n", so any other one would shift every
# later caption onto the wrong image.
_LINE_BREAKS = re.compile("[\r\n\u000b\u000c\u2028\u2029]")

# ----------------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------------


def machine_problems(variant: str) -> list[str]:
    """The PTB tokenizer runs in Java, on files in a temporary folder (the python variant needs neither)."""
    if variant != "ptb":
        return []
    found = []
    if shutil.which("java") is None:
        found.append(
            "Caption metrics need Java for pycocoevalcap's PTB tokenizer, and there is no java on PATH "
            f"(Debian/Ubuntu: {JAVA_INSTALL})."
        )
    scratch = tempfile.gettempdir()
    if not os.access(scratch, os.W_OK | os.X_OK):
        found.append(f"The temporary folder {scratch} is not writable (set TMPDIR to one that is).")
    return found


@register_metric(
    "caption",
    variants=VARIANTS,
    default_variant="ptb",
    target_fields=("references",),
    result_format=formats.CAPTIONS,
    check_target=lambda fields: formats.non_empty_strings(fields, "references"),
    headline="CIDEr",
    environment=machine_problems,
    description="COCO caption evaluation (pycocoevalcap): CIDEr-D x100; BLEU-1..4, METEOR, ROUGE-L in extra.",
)
def score_captions(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    """CIDEr x100 as the value, per-image CIDEr-D as ``per_sample``, every COCO metric x100 in ``extra``."""
    gts, res = _caption_dicts(predictions, targets)
    java = shutil.which("java") is not None
    if variant == "ptb":
        if not java:
            raise FsevalError(
                "The 'caption' metric tokenises with the Stanford PTB tokenizer, which needs Java, and `java` is "
                "not on PATH.",
                hint=f"Install Java ({JAVA_INSTALL}) or pass --metric-variant python (a pure-Python tokeniser; "
                f"{PYTHON_CIDER_DEVIATION}; METEOR is then left out).",
            )
        gts, res = ptb_tokenize(gts), ptb_tokenize(res)
    elif variant == "python":
        gts = {k: [python_tokenize(c) for c in v] for k, v in gts.items()}
        res = {k: [python_tokenize(c) for c in v] for k, v in res.items()}
        if not java:
            warnings.warn(f"METEOR needs Java and is left out ({JAVA_INSTALL}).", stacklevel=2)
    else:
        raise ValueError(f"unknown caption variant {variant!r}")
    scores = coco_scores(gts, res, with_meteor=java)
    cider, per_image = scores.pop("CIDEr")
    extra = {name: 100 * float(score) for name, (score, _) in scores.items()}
    extra["CIDEr"] = 100 * float(cider)
    return MetricResult(value=100 * float(cider), per_sample=[float(s) for s in per_image], extra=extra)


def _caption_dicts(
    predictions: Sequence[str], targets: Sequence[Mapping[str, Any]]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """``gts`` and ``res`` as COCOEvalCap builds them, keyed by sample index, before tokenisation."""
    if len(predictions) != len(targets):
        raise FsevalError(f"{len(predictions)} captions for {len(targets)} images.")
    if not predictions:
        raise FsevalError("No captions to score.")
    gts: dict[int, list[str]] = {}
    for i, target in enumerate(targets):
        references = list(target["references"])
        if not references:
            raise FsevalError(f"Image {target.get('image_id', i)!r} has no reference captions.")
        gts[i] = references
    return gts, {i: [prediction] for i, prediction in enumerate(predictions)}


def coco_scores(
    gts: Mapping[int, list[str]], res: Mapping[int, list[str]], with_meteor: bool = True
) -> dict[str, tuple[float, list[float]]]:
    """(corpus score, per-image scores) of each COCOEvalCap scorer but SPICE, on tokenised captions, unscaled."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts, res = dict(gts), dict(res)
    out: dict[str, tuple[float, list[float]]] = {}
    # verbose=0 only silences Bleu's prints; COCOEvalCap's default of 1 computes the same numbers.
    bleu, bleu_per_image = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        out[f"BLEU-{n + 1}"] = (float(bleu[n]), [float(s) for s in bleu_per_image[n]])
    if with_meteor:
        out["METEOR"] = meteor_score(gts, res)
    rouge, rouge_per_image = Rouge().compute_score(gts, res)
    out["ROUGE-L"] = (float(rouge), [float(s) for s in rouge_per_image])
    cider, cider_per_image = Cider().compute_score(gts, res)
    out["CIDEr"] = (float(cider), [float(s) for s in cider_per_image])
    return out


class _OwnFolderJava:
    """``subprocess`` and ``tempfile`` as pycocoevalcap's tokenizer module sees them.

    Its temporary file goes to a folder of fseval's instead of the installed package's (which may
    be read-only), and the Java process runs there with the jar named by its full path. Java's
    stderr is captured: unpiped, its progress line ("PTBTokenizer tokenized N tokens at ...") lands
    in the middle of the progress bars, and its error, when there is one, belongs in fseval's message.
    """

    PIPE = subprocess.PIPE

    def __init__(self, jar_dir: str, scratch: str) -> None:
        self.jar_dir, self.scratch = jar_dir, scratch
        self.stderr, self.returncode = "", 0

    def NamedTemporaryFile(self, **kwargs: Any) -> Any:
        return tempfile.NamedTemporaryFile(**{**kwargs, "dir": self.scratch})

    def Popen(self, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        *head, jar, main_class, preserve, lower, input_name = command  # java -cp JAR PTBTokenizer ... FILE
        command = [*head, os.path.join(self.jar_dir, jar), main_class, preserve, lower]
        command.append(os.path.join(self.scratch, input_name))
        process = subprocess.Popen(command, **{**kwargs, "cwd": self.scratch, "stderr": subprocess.PIPE})
        communicate = process.communicate

        def kept(*a: Any, **k: Any) -> tuple[Any, Any]:
            out, err = communicate(*a, **k)
            self.stderr, self.returncode = (err or b"").decode(errors="replace"), process.returncode
            return out, err

        process.communicate = kept  # type: ignore[method-assign]
        return process


_PTB_LOCK = threading.Lock()


def ptb_tokenize(captions: Mapping[int, list[str]]) -> dict[int, list[str]]:
    """pycocoevalcap's ``PTBTokenizer().tokenize`` (Java), with a check that every caption came back."""
    from pycocoevalcap.tokenizer import ptbtokenizer

    as_annotations = {k: [{"caption": _LINE_BREAKS.sub(" ", c)} for c in v] for k, v in captions.items()}
    with _PTB_LOCK, tempfile.TemporaryDirectory(prefix="fseval-ptb-") as scratch:
        java = _OwnFolderJava(os.path.dirname(os.path.abspath(ptbtokenizer.__file__)), scratch)
        ptbtokenizer.subprocess, ptbtokenizer.tempfile = java, java
        try:
            tokenized: dict[int, list[str]] = ptbtokenizer.PTBTokenizer().tokenize(as_annotations)
        except OSError as e:
            raise FsevalError(
                f"pycocoevalcap's PTB tokenizer failed: {e}",
                hint="It needs `java` on PATH (Debian/Ubuntu: apt-get install default-jre-headless).",
            ) from e
        finally:
            ptbtokenizer.subprocess, ptbtokenizer.tempfile = subprocess, tempfile
    if java.returncode != 0 or any(len(tokenized.get(k, [])) != len(v) for k, v in captions.items()):
        said = java.stderr.strip().splitlines()
        raise FsevalError(
            f"The Java PTB tokenizer failed (exit code {java.returncode})"
            + (f"; it said: {' / '.join(said[-3:])}" if said else "."),
            hint=f"Check that `java -version` works, or pass --metric-variant python ({PYTHON_CIDER_DEVIATION}).",
        )
    return tokenized


# ----------------------------------------------------------------------------------------------------------
# One METEOR process per Python process
# ----------------------------------------------------------------------------------------------------------

_meteor: Any = None  # pycocoevalcap.meteor.meteor.Meteor
_meteor_pid = 0
_meteor_lock = threading.Lock()


def meteor_score(gts: Mapping[int, list[str]], res: Mapping[int, list[str]]) -> tuple[float, list[float]]:
    """pycocoevalcap's ``Meteor().compute_score`` on a shared METEOR process.

    METEOR's stdio protocol is stateless between calls (``SCORE`` lines return statistics, one
    ``EVAL`` line turns them into scores), so reuse gives the numbers a fresh process gives. A call
    that fails part-way may leave unread lines in the pipe and pycocoevalcap's lock held, so the
    process is then discarded and the next call starts a new one.
    """
    with _meteor_lock:
        meteor = _shared_meteor()
        try:
            score, per_image = meteor.compute_score(dict(gts), dict(res))
        except BaseException:
            _close_meteor()
            raise
    return float(score), [float(s) for s in per_image]


def _shared_meteor() -> Any:
    global _meteor, _meteor_pid
    alive = _meteor is not None and _meteor_pid == os.getpid() and _meteor.meteor_p.poll() is None
    if not alive:
        _close_meteor()
        from pycocoevalcap.meteor.meteor import Meteor

        _meteor, _meteor_pid = Meteor(), os.getpid()
    return _meteor


def _close_meteor() -> None:
    """Stop the METEOR process this Python process started, if any."""
    global _meteor
    meteor, _meteor = _meteor, None
    if meteor is None or _meteor_pid != os.getpid():
        return  # a forked child must not kill its parent's process
    if meteor.lock.locked():
        meteor.lock.release()  # left held by a failed compute_score; Meteor.__del__ would wait for it forever
    if meteor.meteor_p.stdin:
        meteor.meteor_p.stdin.close()
    meteor.meteor_p.kill()
    meteor.meteor_p.wait()


def _forget_parent_meteor() -> None:
    # Keep the parent's object alive in the child: Meteor.__del__ would kill the parent's process.
    global _meteor
    if _meteor is not None:
        _orphaned_meteors.append(_meteor)
    _meteor = None


_orphaned_meteors: list[Any] = []
atexit.register(_close_meteor)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_meteor)


# ----------------------------------------------------------------------------------------------------------
# Pure-Python approximation of pycocoevalcap's PTB tokenisation
# ----------------------------------------------------------------------------------------------------------


# Abbreviations whose final period Stanford CoreNLP 3.4.1's PTBLexer (pycocoevalcap's jar) keeps, found by
# running it on "the X. man" / "the X." / "the X. 5"; the second set keep it only before a number.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ABBREVIATIONS = _words(
    "adj adm adv al ala apr ariz assn assoc asst atty attys aug ave bancorp bhd bldg blvd brig bros calif capt cf "
    "cie cmdr co col colo comdr conn corp cos cpl ct dak dec dept det dr drs elec ens esq est etc ext feb fla fri "
    "ft ga gen gov govs hon inc ind insp intl invt jan jos jr jul jun kan kans ky lieut lt ltd maj mar md messrs "
    "mfg mich minn mlle mme mo mon mont mr mrs ms msgr mt mtg natl neb nev nov oct okla penn pfc ph plc pres prof "
    "profs pty ptys pvt rd rep reps rev rt sen sens sep sept seq sfc sgt spc sq sr st ste supt supts sys tel tenn "
    "thu thurs tue tues univ v va vs vt wed wis wisc wm wyo"
)
ABBREVIATIONS_BEFORE_NUMBER = _words("art ca fig figs no nos op pp prop")

_UNICODE = str.maketrans(
    {
        "“": '"', "”": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "–": " -- ", "—": " -- ", "―": " -- ",
        "…": " ... ", "\x85": " ... ", "\u00a0": " ", "½": "1/2", "¼": "1/4", "¾": "3/4",
    }
)  # fmt: skip
_URL = re.compile(
    r"(?:(?:https?|ftp)://|www\.)[^\s\"<>()\[\]{}]*[^\s\"<>()\[\]{}.,;:!?']|[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}",
    re.IGNORECASE,
)
# Characters PTB always makes a token of their own; "," and ":" stay inside numbers (1,000 and 3:30), "&"
# between capitals (AT&T), "+" before a digit (+5), "#" before a letter (#hashtag).
_SEPARATE: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"([\w.'-]*?)\.{2,}"), lambda m: _before_dots(m.group(1))),
    (re.compile(r"-{2,}"), " -- "),
    (re.compile(r"(?<!\w)([!?]+)|([!?]+)(?!\w)"), r" \1\2 "),  # kept between letters: "a!b"
    (re.compile(r"([()\[\]{}\"`;*~|$%<>=^\\•°])"), r" \1 "),
    (re.compile(r"(?<!\S)/|/(?!\S)"), " / "),  # kept between characters: "and/or", "1/2"
    (re.compile(r"@(?!\S)"), " @ "),
    (re.compile(r"(?<!\d),|,(?!\d)"), " , "),
    (re.compile(r"(?<!\d):|:(?!\d)"), " : "),
    (re.compile(r"(?<![A-Z])&|&(?![A-Z])"), " & "),
    (re.compile(r"\+(?!\d)|(?<=\S)\+"), " + "),
    (re.compile(r"#(?![A-Za-z])"), " # "),
    (re.compile(r"(?<=\S)#"), " #"),
    (re.compile(r"(n't|'[smd]|'ll|'re|'ve)/"), r"\1 / "),
    # A whole number and a fraction make one token, joined by a no-break space as PTB's normalizeSpace does.
    (re.compile(r"(?<!\S)(\d+) (\d+/\d+)(?!\S)"), "\\1\u00a0\\2"),
]
_WHITESPACE = re.compile(r"[^\S\u00a0]+")  # not the no-break space inside "1 1/2"
_SYMBOLS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-", '"': "``"}
_CLITIC = re.compile(r"(?i)(n't|'s|'m|'d|'ll|'re|'ve)$")
_SPLIT_WORDS = re.compile(r"(?i)^(?:(can)(not)|(gon|got|wan)(na|ta)|(gim|lem)(me)|('t)(is|was)|(y')(\w+))$")
_INNER_APOSTROPHE = re.compile(r"(?i:[a-z]*[aeiouy]'[aeiou][a-z]*)|[A-HJ-XZ]'[^\W\d_]{2,}")
_APOSTROPHE_EXCEPTIONS = _words("o'clock c'mon d'ye e'er s'mores ev'ry li'l nat'l nor'easter cont'd")
_APOSTROPHE_WORDS = re.compile(r"(?i)^'(?:em|cause|n'|\d0s|tis|twas|s|m|d|ll|re|ve)(?![a-z])")


def python_tokenize(caption: str) -> str:
    """Approximate pycocoevalcap's tokenisation (PTBTokenizer -preserveLines -lowerCase, PUNCTUATIONS dropped).

    Follows Stanford CoreNLP 3.4.1's PTBLexer on what captions contain: splits off punctuation,
    brackets (as -lrb- ... -rrb-, which pycocoevalcap keeps because it compares after lowercasing),
    quotes, ``$ % # *`` and similar symbols, clitics (``does n't``, ``ca n't``, ``dog 's``,
    ``i 'd 've``, ``can not``, ``gon na``); keeps hyphenated words, numbers with ``. , :`` inside,
    URLs and e-mail addresses, and the final period of known abbreviations and of acronyms and
    initials (``st.``, ``etc.``, ``u.s.``, ``p.m.``, ``j.``); then lowercases and drops the tokens in
    pycocoevalcap's ``PUNCTUATIONS``. Rarer constructions (emoticons, SGML tags, ``10:30am``) differ.
    """
    text = _LINE_BREAKS.sub(" ", caption).translate(_UNICODE)
    tokens: list[str] = []
    for piece in _protect_urls(text):
        if isinstance(piece, tuple):
            tokens.append(piece[0])
            continue
        for pattern, replacement in _SEPARATE:
            piece = pattern.sub(replacement, piece)
        chunks = _WHITESPACE.split(piece.strip(" \t"))
        for i, chunk in enumerate(chunks):
            if chunk:
                tokens.extend(_split_chunk(chunk, chunks[i + 1] if i + 1 < len(chunks) else ""))
    from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS  # here: VQA and ranking runs need no pycocoevalcap

    # pycocoevalcap compares PUNCTUATIONS with lowercased tokens, so "-LRB-" never matches: "-lrb-" stays.
    lowered = (_SYMBOLS.get(t, t).lower() for t in tokens)
    return " ".join(t for t in lowered if t not in PUNCTUATIONS)


def _protect_urls(text: str) -> list[str | tuple[str]]:
    """The text split around URLs and e-mail addresses, which are returned as 1-tuples (one token each)."""
    pieces: list[str | tuple[str]] = []
    start = 0
    for match in _URL.finditer(text):
        pieces += [text[start : match.start()], (match.group(),)]
        start = match.end()
    return [*pieces, text[start:]]


def _split_chunk(chunk: str, next_chunk: str) -> list[str]:
    """Tokens of one whitespace-free chunk whose symbols are already separated: quotes, hyphens, periods, clitics."""
    prefix: list[str] = []
    while len(chunk) > 1 and (
        (chunk[0] == "'" and not _APOSTROPHE_WORDS.match(chunk)) or (chunk[0] in "-." and not chunk[1].isdigit())
    ):
        prefix.append(chunk[0])
        chunk = chunk[1:]
    suffix: list[str] = []
    while len(chunk) > 1:
        if chunk[-1] == "-" or (chunk[-1] == "'" and not chunk.lower().endswith("'n'")):
            suffix.insert(0, chunk[-1])
        elif chunk[-1] == "." and not _keeps_period(chunk[:-1].lower(), next_chunk):
            suffix.insert(0, ".")
        else:
            break
        chunk = chunk[:-1]
    return [*prefix, *_split_clitics(chunk), *suffix]


def _before_dots(word: str) -> str:
    # "Mar.." and "U.S...." end in an abbreviation's period followed by punctuation: "mar." "." and "u.s." "...".
    return f"{word}. ... " if word and _keeps_period(word.lower(), "") else f"{word} ... "


def _keeps_period(stem: str, next_chunk: str) -> bool:
    if stem in ABBREVIATIONS or re.fullmatch(r"[a-z](?:\.[a-z])*", stem):
        return True
    return stem in ABBREVIATIONS_BEFORE_NUMBER and next_chunk[:1].isdigit()


def _split_clitics(word: str) -> list[str]:
    """``doesn't`` -> does n't, ``i'd've`` -> i 'd 've, ``cannot`` -> can not, ``rock'n'roll`` -> rock 'n' roll."""
    special = _SPLIT_WORDS.match(word)
    if special:
        return [part for part in special.groups() if part]
    i = word.lower().find("'n'")
    if i > 0:
        rest = _split_clitics(word[i + 3 :]) if len(word) > i + 3 else []
        return [*_split_clitics(word[:i]), word[i : i + 3], *rest]
    clitics: list[str] = []
    while (match := _CLITIC.search(word)) and match.start() > 0:
        clitics.insert(0, match.group())
        word = word[: match.start()]
    return [*_split_inner_apostrophe(word), *clitics]


def _split_inner_apostrophe(word: str) -> list[str]:
    """PTB keeps an inner apostrophe only in shapes like ``ma'am``, ``O'Neil``, ``o'clock``; else it is a quote."""
    i = word.find("'", 1)
    if i < 0 or i == len(word) - 1 or _INNER_APOSTROPHE.fullmatch(word) or word.lower() in _APOSTROPHE_EXCEPTIONS:
        return [word]
    return [word[:i], "'", *_split_inner_apostrophe(word[i + 1 :])]
