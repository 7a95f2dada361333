"""How far the ``python`` caption tokenisation is from pycocoevalcap's Java PTB tokenizer.

No COCO captions ship with fseval, so this builds a seeded corpus of COCO-style captions (templates
and vocabulary, with the punctuation, contractions, possessives, numbers, hyphens, quotes,
brackets and abbreviations that real captions and model outputs contain), five references per
image and a prediction that perturbs one of them; then the same with one to three random marks
inserted into every reference, a stress test far odder than real captions. It prints the fraction of sentences that both
tokenisers turn into the same tokens, and CIDEr x100 (and the other COCO metrics) under each.

Run: python benchmarks/caption_tokenizer_deviation.py [--images 600] [--seed 0] [--show 10]
Needs Java (the reference tokenizer is the Java one).
"""

from __future__ import annotations

import argparse
import random

from fseval.metrics.captioning import coco_scores, ptb_tokenize, python_tokenize

SUBJECTS = [
    "a man", "a woman", "two men", "a young boy", "a little girl", "an elderly man", "a group of people",
    "three kids", "a dog", "two dogs", "a black cat", "the cat", "a herd of cows", "a person", "some people",
    "a baseball player", "a tennis player", "a surfer", "a skier", "a chef", "a police officer", "a giraffe",
    "two zebras", "an elephant", "a brown bear", "a teddy bear", "a couple", "a family", "a 12-year-old boy",
]  # fmt: skip
VERBS = [
    "riding", "holding", "sitting on", "standing next to", "walking down", "looking at", "eating", "playing with",
    "laying on", "flying", "throwing", "catching", "carrying", "cutting", "waiting for", "parked near",
    "leaning against", "jumping over", "swinging", "talking on",
]  # fmt: skip
OBJECTS = [
    "a skateboard", "a surfboard", "a red frisbee", "a kite", "a pizza", "a hot dog", "a cell phone", "a laptop",
    "an umbrella", "a bench", "a fire hydrant", "a double-decker bus", "a black-and-white photo", "a t-shirt",
    "a stop sign", "a wooden table", "the street", "a baseball bat", "a tennis racket", "a birthday cake",
    "a plate of food", "a bowl of fruit", "a pair of skis", "a motorcycle", "a train", "two slices of pizza",
    "a large clock", "a toilet", "a giant teddy bear", "an ice-cream cone", "a parking meter",
]  # fmt: skip
PLACES = [
    "on the beach", "in a kitchen", "at the park", "on a city street", "in a grassy field", "next to the ocean",
    "in front of a building", "on a snowy hill", "at a train station", "in the living room", "under a tree",
    "near the water", "on top of a hill", "in a parking lot", "at the zoo", "during a game", "at night",
    "on a sunny day", "by the road", "in downtown St. Louis", "in the U.S.", "on 5th Ave.",
]  # fmt: skip
EXTRAS = [
    "while another watches", "with a smile", "in the background", "for the camera", "at 3:30 p.m.",
    "that costs $5.50", "with 1,000 other fans", "and a 50% off sign", "(in the rain)", "[blurry]",
    "-- very close up", "- a great shot", "... again", "; it's sunny", ": a close-up view", "etc.",
    "near Dr. Smith's office", "and the dog's toys", "with the kids' bikes", "in the early 1990s",
    "on a 2.5-inch screen", "with a sign that says \"STOP\"", "labeled 'fresh'", "and/or a bag",
    "that's painted blue", "who doesn't look happy", "that can't be moved", "you'd've liked",
    "and they're smiling", "and he's gonna jump", "that we've seen", "& a dog", "for #1",
    "(e.g. a dog)", "at Joe's Pizza Inc.", "from Jan. to Mar.", "with 2 1/2 slices", "on Main St. today",
    "while it’s raining", "“on sale”", "— a busy road", "in the 5 o'clock sun",
]  # fmt: skip
OPENERS = ["", "", "", "", "There is ", "This is ", "Here is ", "An image of ", "A photo of ", "Close-up of "]
ENDINGS = [".", ".", ".", "", "", " .", "!", "...", ". ", "?"]
SYNONYMS = {
    "man": "guy", "woman": "lady", "riding": "on", "holding": "carrying", "sitting on": "seated on",
    "street": "road", "dog": "puppy", "people": "persons", "large": "big", "a": "the",
}  # fmt: skip


def make_caption(rng: random.Random) -> str:
    """One COCO-style caption with a random amount of decoration."""
    parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
    if rng.random() < 0.7:
        parts.append(rng.choice(PLACES))
    if rng.random() < 0.35:
        parts.append(rng.choice(EXTRAS))
    text = rng.choice(OPENERS) + " ".join(parts)
    if rng.random() < 0.1:
        text = text.replace(" ", ", ", 1)
    if rng.random() < 0.05:
        text = text.replace(" ", "  ", 1)
    text = text[0].upper() + text[1:] if rng.random() < 0.8 else text
    return text + rng.choice(ENDINGS)


def perturb(caption: str, rng: random.Random) -> str:
    """A prediction: a reference with words dropped or swapped, case and punctuation changed."""
    words = caption.split(" ")
    if len(words) > 4 and rng.random() < 0.5:
        del words[rng.randrange(1, len(words))]
    words = [SYNONYMS.get(w, w) if rng.random() < 0.3 else w for w in words]
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text.lower().rstrip(".!?")
    return text


STRESS_MARKS = ".,;:!?'\"()[]-/&$%#*+=@`…’“”–"


def stress(caption: str, rng: random.Random) -> str:
    """The caption with one to three marks inserted at random places, words untouched: far odder than real text."""
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(caption))
        caption = caption[:i] + rng.choice(STRESS_MARKS) + caption[i:]
    return caption


def make_corpus(n_images: int, seed: int, stressed: bool = False) -> tuple[list[str], list[list[str]]]:
    """Predictions and five references per image."""
    rng = random.Random(seed)
    references = [[make_caption(rng) for _ in range(5)] for _ in range(n_images)]
    if stressed:
        references = [[stress(r, rng) for r in refs] for refs in references]
    predictions = [perturb(rng.choice(refs), rng) for refs in references]
    return predictions, references


def compare(predictions: list[str], references: list[list[str]], label: str, show: int) -> None:
    """Print the share of identically tokenised sentences and every COCO metric under both tokenisations."""
    gts = {i: refs for i, refs in enumerate(references)}
    res = {i: [p] for i, p in enumerate(predictions)}
    ptb_gts, ptb_res = ptb_tokenize(gts), ptb_tokenize(res)
    py_gts = {i: [python_tokenize(c) for c in v] for i, v in gts.items()}
    py_res = {i: [python_tokenize(c) for c in v] for i, v in res.items()}

    pairs = [
        (raw, ptb_tok, py_tok)
        for raws, ptbs, pys in [(gts, ptb_gts, py_gts), (res, ptb_res, py_res)]
        for i in raws
        for raw, ptb_tok, py_tok in zip(raws[i], ptbs[i], pys[i], strict=True)
    ]
    differing = [p for p in pairs if p[1] != p[2]]
    print(
        f"\n{label}: {len(references)} images x 5 references + {len(predictions)} predictions ({len(pairs)} sentences)"
    )
    print(f"identical tokenisation: {len(pairs) - len(differing)}/{len(pairs)} = {1 - len(differing) / len(pairs):.2%}")
    for raw, ptb_tok, py_tok in differing[:show]:
        print(f"  {raw!r}\n    ptb:    {ptb_tok!r}\n    python: {py_tok!r}")

    ptb_scores = coco_scores(ptb_gts, ptb_res)
    py_scores = coco_scores(py_gts, py_res)
    print(f"{'metric':<8} {'ptb':>8} {'python':>8} {'diff':>8}")
    for name, (score, _) in ptb_scores.items():
        a, b = 100 * score, 100 * py_scores[name][0]
        print(f"{name:<8} {a:8.3f} {b:8.3f} {b - a:+8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="print this many sentences that tokenise differently")
    args = parser.parse_args()
    compare(*make_corpus(args.images, args.seed), "COCO-style captions", args.show)
    # Predictions stay clean: the stress is on the references, which set CIDEr's IDF and n-gram targets.
    compare(*make_corpus(args.images, args.seed, stressed=True), "references with random marks inserted", args.show)


if __name__ == "__main__":
    main()
