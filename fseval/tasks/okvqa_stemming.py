"""OK-VQA answer stemming as in OpenFlamingo's evaluation, without NLTK data.

OpenFlamingo (open_flamingo/eval/ok_vqa_utils.py, ``OKVQAStemmer``) stems every OK-VQA generation before
scoring: NLTK ``word_tokenize`` + ``pos_tag``, then per token: the manual table below if the token is a key;
otherwise, if it ends in "ing", NLTK's ``WordNetLemmatizer().lemmatize(token, "v")`` (whatever its tag);
otherwise, if tagged NNS/NNPS, ``inflection.singularize``. Tokens are re-joined with single spaces.

NLTK's tagger and WordNet are data downloads that cannot be fetched here, so this module reimplements them.
Known deviations from OpenFlamingo, each measured against the real nltk/inflection code and WordNet 3.0 data:

- Tokenisation: NLTK's ``NLTKWordTokenizer`` regexes (nltk 3.10), identical to nltk on single sentences. punkt's
  sentence splitting is approximated: a word ending in "?"/"!", or in "." unless it is one letter, dotted
  ("u.s.") or a title ("mr."), ends a sentence when text follows, so its mark becomes its own token.
- Lemmatisation: WordNet's morphy for verbs (verb.exc, then the "ing"->"e" and "ing"->"" detachments; the
  shortest candidate that is a WordNet verb; case-sensitive, so "Skiing" stays). The embedded tables hold 4,078 of
  WordNet's 11,529 verbs: those reached from every "-ing" word of the CLIP BPE vocabulary (1,534) and of WordNet's
  own lemmas (2,642), and every verb that is a CLIP vocabulary word. Those words lemmatise exactly as in nltk; of
  the 12,733 -ing forms of WordNet verbs that nltk changes, 6,986 rare ones ("abdicating", "windsurfing") are left
  unchanged here. A wrong lemma is never produced, only a missing one. Hyphenated verbs ("deep-frying") are
  left unchanged. nltk <= 3.8 retried the rules when nothing matched; that changes one WordNet -ing word
  ("focussing" -> "focus"), which follows nltk >= 3.9 here.
- Singularisation: the ``inflection`` package's rule table (0.5.1): identical on 40,244 test words.
- Tagging, the one part that could not be checked against the original (its perceptron weights are not on PyPI):
  a token counts as NNS/NNPS if it ends in "s" but not "ss", "us" or "is", is not listed as something else
  ("is", "always", "news", "gas", "texas", ...), and does not follow a subject pronoun ("he runs"); or if it is
  an irregular plural that ``inflection`` changes ("people", "men", "children", "data", ...). Capitalised words
  follow the same rule ("Yankees" -> "Yankee"), and so do decades ("1950s" -> "1950", Penn Treebank NNS).
- Kept on purpose: OpenFlamingo's table keys with "'s" ("hell's", "men's") never match, because the tokeniser
  has already split off "'s"; and stemmed answers keep the tokeniser's spacing ("dog .", "do n't").
"""

from __future__ import annotations

import re
from functools import cache

from fseval.resources import ASSETS_DIR

# OpenFlamingo's table, found by comparing OK-VQA's raw answers with its stemmed answers. Keys are case-sensitive.
# fmt: off
MANUAL_MATCHES: dict[str, str] = {
    "police": "police", "las": "las", "vegas": "vegas", "yes": "yes", "jeans": "jean", "hell's": "hell",
    "domino's": "domino", "morning": "morn", "clothes": "cloth", "are": "are", "riding": "ride", "leaves": "leaf",
    "dangerous": "danger", "clothing": "cloth", "texting": "text", "kiting": "kite", "firefighters": "firefight",
    "ties": "tie", "married": "married", "teething": "teeth", "gloves": "glove", "tennis": "tennis", "dining": "dine",
    "directions": "direct", "waves": "wave", "christmas": "christmas", "drives": "drive", "pudding": "pud",
    "coding": "code", "plating": "plate", "quantas": "quanta", "hornes": "horn", "graves": "grave", "mating": "mate",
    "paned": "pane", "alertness": "alert", "sunbathing": "sunbath", "tenning": "ten", "wetness": "wet",
    "urinating": "urine", "sickness": "sick", "braves": "brave", "firefighting": "firefight", "lenses": "lens",
    "reflections": "reflect", "backpackers": "backpack", "eatting": "eat", "designers": "design",
    "curiousity": "curious", "playfulness": "play", "blindness": "blind", "hawke": "hawk", "tomatoe": "tomato",
    "rodeoing": "rodeo", "brightness": "bright", "circuses": "circus", "skateboarders": "skateboard",
    "staring": "stare", "electronics": "electron", "electicity": "elect", "mountainous": "mountain",
    "socializing": "social", "hamburgers": "hamburg", "caves": "cave", "transitions": "transit", "wading": "wade",
    "creame": "cream", "toileting": "toilet", "sautee": "saute", "buildings": "build", "belongings": "belong",
    "stockings": "stock", "walle": "wall", "cumulis": "cumuli", "travelers": "travel", "conducter": "conduct",
    "browsing": "brows", "pooping": "poop", "haircutting": "haircut", "toppings": "top", "hearding": "heard",
    "sunblocker": "sunblock", "bases": "base", "markings": "mark", "mopeds": "mope", "kindergartener": "kindergarten",
    "pies": "pie", "scrapbooking": "scrapbook", "couponing": "coupon", "meetings": "meet", "elevators": "elev",
    "lowes": "low", "men's": "men", "childrens": "children", "shelves": "shelve", "paintings": "paint",
    "raines": "rain", "paring": "pare", "expressions": "express", "routes": "rout", "pease": "peas", "vastness": "vast",
    "awning": "awn", "boy's": "boy", "drunkenness": "drunken", "teasing": "teas", "conferences": "confer",
    "ripeness": "ripe", "suspenders": "suspend", "earnings": "earn", "reporters": "report", "kid's": "kid",
    "containers": "contain", "corgie": "corgi", "porche": "porch", "microwaves": "microwave", "batter's": "batter",
    "sadness": "sad", "apartments": "apart", "oxygenize": "oxygen", "striping": "stripe", "purring": "pure",
    "professionals": "profession", "piping": "pipe", "farmer's": "farmer", "potatoe": "potato", "emirates": "emir",
    "womens": "women", "veteran's": "veteran", "wilderness": "wilder", "propellers": "propel", "alpes": "alp",
    "charioteering": "chariot", "swining": "swine", "illness": "ill", "crepte": "crept", "adhesives": "adhesive",
    "regent's": "regent", "decorations": "decor", "rabbies": "rabbi", "overseas": "oversea", "travellers": "travel",
    "casings": "case", "smugness": "smug", "doves": "dove", "nationals": "nation", "mustange": "mustang",
    "ringe": "ring", "gondoliere": "gondolier", "vacationing": "vacate", "reminders": "remind", "baldness": "bald",
    "settings": "set", "glaced": "glace", "coniferous": "conifer", "revelations": "revel", "personals": "person",
    "daughter's": "daughter", "badness": "bad", "projections": "project", "polarizing": "polar",
    "vandalizers": "vandal", "minerals": "miner", "protesters": "protest", "controllers": "control", "weddings": "wed",
    "sometimes": "sometime", "earing": "ear",
}
# fmt: on


def stem(answer: str) -> str:
    """OpenFlamingo's ``OKVQAStemmer.stem``: tokenise, stem each token, join with single spaces."""
    tokens = word_tokenize(answer)
    stemmed = []
    for index, token in enumerate(tokens):
        if token in MANUAL_MATCHES:
            token = MANUAL_MATCHES[token]
        elif token.endswith("ing"):
            token = lemmatize_verb(token)
        elif is_plural_noun(token, tokens[index - 1] if index else ""):
            token = singularize(token)
        stemmed.append(token)
    return " ".join(stemmed)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _word_pairs(text: str) -> dict[str, str]:
    """Parses "running:run wedding:wed" into {"running": "run", "wedding": "wed"}."""
    return {key: value for key, value in (pair.split(":", 1) for pair in text.split())}


# --- tokenisation: nltk.tokenize.word_tokenize ---------------------------------------------------------------------

_QUOTES_AND_SPACE = "\\]\\)}>\"'»”’ "
_STARTING_QUOTES = [
    (r"([«“‘„]|[`]+)", r" \1 "),
    (r"^\"", r"``"),
    (r"(``)", r" \1 "),
    (r"([ \(\[{<])(\"|\'{2})", r"\1 `` "),
    (r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),
]
_PUNCTUATION = [
    (rf"([^\.])(\.)([{_QUOTES_AND_SPACE}]*)\s*$", r"\1 \2 \3 "),
    (r"([:,])([^\d])", r" \1 \2"),
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),
    (r"[;@#$%&]", r" \g<0> "),
    (r"[\u2012-\u2015]", r" \g<0> "),
    (r"([^\.])(\.)([\]\)}>\"\']*)\s*$", r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),
    (r"[*]", r" \g<0> "),
    (r"[\]\[\(\)\{\}\<\>]", r" \g<0> "),
    (r"--", r" -- "),
]
_ENDING_QUOTES = [
    (r"([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
]
_CONTRACTIONS = [
    r"(?i)\b(can)(not)\b",
    r"(?i)\b(d)('ye)\b",
    r"(?i)\b(gim)(me)\b",
    r"(?i)\b(gon)(na)\b",
    r"(?i)\b(got)(ta)\b",
    r"(?i)\b(lem)(me)\b",
    r"(?i)\b(more)('n)\b",
    r"(?i)\b(wan)(na)(?=\s)",
    r"(?i) ('t)(is)\b",
    r"(?i) ('t)(was)\b",
]
# Approximates punkt: a sentence ends after a word ending in ".", "?" or "!" (closing quotes allowed) that is
# followed by more text, unless it ends in "." and is a single letter, a dotted abbreviation ("u.s.") or a title.
_ABBREVIATIONS = _word_set("mr mrs ms dr st jr sr mt ft vs etc inc co ltd")


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize``: sentences (approximated), then the NLTK treebank regexes on each."""
    tokens: list[str] = []
    for sentence in _sentences(text):
        tokens.extend(_treebank_tokenize(sentence))
    return tokens


def _sentences(text: str) -> list[str]:
    sentences, start = [], 0
    for word in re.finditer(r"\S+", text):
        end = re.search(r"([.?!])[\"'”’)\]]*$", word.group())
        if end is None or not text[word.end() :].strip():
            continue
        stem = word.group()[: end.start()].lower()
        if end.group(1) == "." and (len(stem) <= 1 or "." in stem or stem in _ABBREVIATIONS):
            continue
        sentences.append(text[start : word.end()])
        start = word.end()
    return [*sentences, text[start:]]


def _treebank_tokenize(text: str) -> list[str]:
    for pattern, replacement in _STARTING_QUOTES + _PUNCTUATION:
        text = re.sub(pattern, replacement, text)
    text = " " + text + " "
    for pattern, replacement in _ENDING_QUOTES:
        text = re.sub(pattern, replacement, text)
    for pattern in _CONTRACTIONS:
        text = re.sub(pattern, r" \1 \2 ", text)
    return text.split()


# --- tagging: the part of nltk.pos_tag that matters here (NNS/NNPS or not) ---------------------------------------

# Words ending in "s" that the Penn Treebank tags as something other than a plural noun.
_NOT_PLURAL = _word_set(
    """
    is was has does goes says gets makes takes seems comes looks means wants needs lets this his its hers ours
    yours theirs us as yes always perhaps sometimes afterwards towards backwards forwards besides whereas thus plus
    upstairs downstairs indoors outdoors nowadays news gas bus lens canvas atlas bias chaos cosmos pancreas
    texas paris dallas kansas arkansas illinois athens mars venus brussels wales netherlands mercedes adidas
    """
)
_SUBJECT_PRONOUNS = _word_set("he she it who that which this there what")
# Plurals without a final "s" that ``inflection.singularize`` changes.
_IRREGULAR_PLURALS = _word_set("people men women children mice lice data media criteria bacteria oxen kine")


def is_plural_noun(token: str, previous: str = "") -> bool:
    """Whether NLTK's tagger would tag ``token`` NNS or NNPS (rule-based approximation, see module docstring)."""
    lower = token.lower()
    if lower in _IRREGULAR_PLURALS:
        return True
    if len(lower) < 3 or not lower.endswith("s") or not re.fullmatch(r"[a-z0-9][a-z0-9\-]*", lower):
        return False
    if lower.endswith(("ss", "us", "is")) or lower in _NOT_PLURAL:
        return False
    return previous.lower() not in _SUBJECT_PRONOUNS


# --- lemmatisation: WordNetLemmatizer().lemmatize(word, "v") for "-ing" words -------------------------------------


def lemmatize_verb(word: str) -> str:
    """WordNet morphy for an "-ing" verb form: exceptions first, else the shortest of the word, the word less
    "ing" plus "e" and the word less "ing" that is a WordNet verb; the word itself if none is."""
    exceptions, verbs = _ing_exceptions(), _verbs()
    if word in exceptions:
        return exceptions[word]
    candidates = [form for form in (word, word[:-3] + "e", word[:-3]) if form in verbs]
    return min(candidates, key=len) if candidates else word


# --- singularisation: inflection.singularize (inflection 0.5.1) ----------------------------------------------------

_UNCOUNTABLE = ("equipment", "fish", "information", "jeans", "money", "rice", "series", "sheep", "species")
# (singular, plural) pairs; each becomes a suffix rule that keeps the first letter's case.
_IRREGULAR = [
    ("person", "people"),
    ("man", "men"),
    ("human", "humans"),
    ("child", "children"),
    ("sex", "sexes"),
    ("move", "moves"),
    ("cow", "kine"),
    ("zombie", "zombies"),
]
_SINGULAR_RULES: list[tuple[str, str]] = [
    (r"(database)s$", r"\1"),
    (r"(quiz)zes$", r"\1"),
    (r"(matr)ices$", r"\1ix"),
    (r"(vert|ind)ices$", r"\1ex"),
    (r"(passer)sby$", r"\1by"),
    (r"^(ox)en", r"\1"),
    (r"(alias|status)(es)?$", r"\1"),
    (r"(octop|vir)(us|i)$", r"\1us"),
    (r"^(a)x[ie]s$", r"\1xis"),
    (r"(cris|test)(is|es)$", r"\1is"),
    (r"(shoe)s$", r"\1"),
    (r"(o)es$", r"\1"),
    (r"(bus)(es)?$", r"\1"),
    (r"(m|l)ice$", r"\1ouse"),
    (r"(x|ch|ss|sh)es$", r"\1"),
    (r"(m)ovies$", r"\1ovie"),
    (r"(s)eries$", r"\1eries"),
    (r"([^aeiouy]|qu)ies$", r"\1y"),
    (r"([lr])ves$", r"\1f"),
    (r"(tive)s$", r"\1"),
    (r"(hive)s$", r"\1"),
    (r"([^f])ves$", r"\1fe"),
    (r"(t)he(sis|ses)$", r"\1hesis"),
    (r"(s)ynop(sis|ses)$", r"\1ynopsis"),
    (r"(p)rogno(sis|ses)$", r"\1rognosis"),
    (r"(p)arenthe(sis|ses)$", r"\1arenthesis"),
    (r"(d)iagno(sis|ses)$", r"\1iagnosis"),
    (r"(b)a(sis|ses)$", r"\1asis"),
    (r"(a)naly(sis|ses)$", r"\1nalysis"),
    (r"([ti])a$", r"\1um"),
    (r"(n)ews$", r"\1ews"),
    (r"(ss)$", r"\1"),
    (r"s$", ""),
]


def singularize(word: str) -> str:
    """``inflection.singularize``: uncountables unchanged, then the first matching irregular or suffix rule."""
    if any(re.search(rf"(?i)\b({noun})\Z", word) for noun in _UNCOUNTABLE):
        return word
    for singular, plural in reversed(_IRREGULAR):
        if singular[0] == plural[0]:
            match = re.search(rf"(?i)({plural[0]}){plural[1:]}$", word)
            if match:
                return word[: match.start()] + match.group(1) + singular[1:]
        elif re.search(rf"(?i){plural}$", word):
            first = word[-len(plural)]
            return word[: -len(plural)] + (singular[0].upper() if first.isupper() else singular[0]) + singular[1:]
    for pattern, replacement in _SINGULAR_RULES:
        if re.search("(?i)" + pattern, word):
            return re.sub("(?i)" + pattern, replacement, word)
    return word


# --- WordNet 3.0 data for lemmatize_verb, in fseval/assets ----------------------------------------------------------


@cache
def _asset_lines(name: str) -> list[str]:
    text = (ASSETS_DIR / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@cache
def _verbs() -> frozenset[str]:
    """Verbs of WordNet 3.0 (index.verb) reachable from common "-ing" words; see the module docstring."""
    return frozenset(_asset_lines("wordnet_verbs.txt"))


@cache
def _ing_exceptions() -> dict[str, str]:
    """WordNet 3.0 verb.exc entries for "-ing" forms that the detachment rules would get wrong."""
    return dict(line.split(":", 1) for line in _asset_lines("wordnet_ing_exceptions.txt"))
