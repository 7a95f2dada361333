"""Record the COCO caption evaluation of VATEX- and YouCook2-shaped captions, as fseval's video caption metrics'
fixture (``tests/fixtures/official_video_captions/cases.json``, read by ``tests/metrics/test_video_captions.py``).

The official pipeline is pycocoevalcap's ``COCOEvalCap.evaluate()`` on a ``pycocotools`` COCO object of the
references and ``loadRes`` of the predictions, each clip (VATEX) or recipe step (YouCook2) one image, as
lmms-eval builds it for VATEX: PTB tokenisation (Java), BLEU-1..4, METEOR (Java), ROUGE-L and CIDEr-D. SPICE
is swapped for a stand-in that scores nothing: it downloads Stanford CoreNLP on first use, and fseval does not
report it. Run it in a throwaway venv with the pinned packages, not in fseval's environment, with Java on PATH:

    python3 -m venv /tmp/pycoco
    /tmp/pycoco/bin/pip install pycocoevalcap==1.2 pycocotools==2.0.11 numpy==2.4.6
    /tmp/pycoco/bin/python scripts/make_video_caption_fixture.py tests/fixtures/official_video_captions/cases.json

The cases cover what the pipeline treats specially: ten references (VATEX's ``enCap``) and one (a YouCook2
step), capitals and punctuation PTB splits off or drops (including a caption of punctuation only), clitics,
brackets, non-ASCII letters, an empty prediction, a prediction equal to a reference, n-gram repeats that
CIDEr-D clips, a long prediction (its length penalty), the same sentence on two steps (document frequency),
and a set of one step, whose document frequencies make every CIDEr-D weight zero.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import Any

from pycocoevalcap import eval as coco_eval
from pycocotools.coco import COCO

METRICS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")

VATEX_REFERENCES = {
    "nJ6KPT1uwe8_000047_000057": [
        "A woman is carving a pumpkin and gives instructions how to do it",
        "A woman is demonstrating how to clean a pumpkin properly.",
        "A person is using a very large knife to remove the core from a pumpkin.",
        "A person cleans the insides out of a pumpkin using some tools.",
        "A woman scoops seeds out of a pumpkin with a spoon.",
        "A woman is cleaning out the inside of a pumpkin with a knife.",
        "A lady is cutting the top off a pumpkin and talking about it.",
        "Someone is carving a pumpkin for Halloween on a table.",
        "A woman shows how to hollow out a large orange pumpkin.",
        "The woman is removing the pulp of a pumpkin with a knife.",
    ],
    "-0jJ7ZbGm8A_000008_000018": [
        "A man is playing the drums in a small room.",
        "A man plays a drum set while wearing headphones.",
        "A drummer performs a fast beat on his drum kit.",
        "A young man is drumming along to a song.",
        "A man sits behind a drum set and plays it loudly.",
        "A guy with headphones on is playing drums.",
        "A person hits the drums and cymbals with sticks.",
        "A man is practicing drums in his bedroom.",
        "A man is playing a drum kit with great energy.",
        "A musician plays the drums (and the cymbals) in a studio.",
    ],
    "Ptf_2VRj-V0_000122_000132": [
        "Two kids are jumping on a trampoline in a backyard.",
        "Children bounce up and down on a trampoline outside.",
        "Two children play on a trampoline on a sunny day.",
        "A boy and a girl jump on a trampoline together.",
        "Kids are jumping and laughing on a big trampoline.",
        "Two young kids jump on the trampoline in the yard.",
        "A pair of children bounce on a trampoline with a net.",
        "Two kids are having fun on a trampoline.",
        "Some kids jump around on a backyard trampoline.",
        "Two children jump high on a trampoline outdoors.",
    ],
    "a_b_c_000001_000011": [
        "A man's hands don't stop moving as he kneads dough.",
        "A baker kneads a ball of dough on a floured counter.",
        "Someone is kneading bread dough by hand.",
        "A person works dough with their hands on a table.",
        "A man is making bread, kneading the dough.",
        "Hands press and fold dough on a wooden board.",
        "A cook kneads the dough for a loaf of bread.",
        "A man kneads pizza dough in a kitchen.",
        "A person is preparing dough for baking.",
        "The baker is kneading the dough -- again and again.",
    ],
    "xX9-_q_000300_000310": [
        "A café owner makes crème brûlée with a torch.",
        "A chef caramelizes sugar on a dessert with a blowtorch.",
        "A cook uses a small torch to brown the top of a custard.",
        "Someone torches sugar on top of a crème brûlée.",
        "A person burns the sugar on a dessert with a flame.",
        "A man uses a torch on a dessert in a restaurant.",
        "A chef finishes a dessert with a kitchen torch.",
        "A dessert gets its sugar top caramelized with fire.",
        "A cook torches a crème brûlée until it is golden.",
        "A man heats the top of a custard with a blow torch.",
    ],
    "Zz_000999_001009": [
        "A dog catches a frisbee in a park.",
        "A dog jumps to catch a flying disc.",
        "A brown dog runs and catches a frisbee.",
        "A man throws a frisbee and his dog catches it.",
        "A dog leaps into the air for a frisbee.",
        "A dog is playing fetch with a frisbee on the grass.",
        "A pet dog grabs a frisbee out of the air.",
        "A dog chases a frisbee across a field.",
        "A dog is catching frisbees thrown by its owner.",
        "A dog snatches a frisbee in mid-air.",
    ],
}
VATEX_PREDICTIONS = [
    "a woman is cleaning out a pumpkin with a knife",
    "A man plays a drum set while wearing headphones.",  # a reference, word for word
    "kids kids kids jumping jumping jumping on a trampoline trampoline trampoline",  # repeats CIDEr-D clips
    "A man's hands don't stop -- he's kneading (slowly) the dough!",  # clitics, dashes, brackets
    "A café owner makes crème brûlée",  # non-ASCII letters
    "",  # an empty caption
]

YOUCOOK2_STEPS = [  # (YouTube id, step id, reference sentence, prediction)
    ("GLd3aX16zBg", 0, "spread margarine on two slices of white bread", "spread butter on two slices of bread"),
    ("GLd3aX16zBg", 1, "place a slice of cheese on the bread", "place a slice of cheese on the bread"),
    ("GLd3aX16zBg", 2, "place the bread slices on top of each other and place in a hot pan", "put the bread in a pan"),
    ("GLd3aX16zBg", 3, "flip the sandwich over and press down", "..."),  # punctuation only: nothing left
    ("xHr8X2Wpmno", 0, "add 2 cups of water to the pot", "Add 2 cups of water to a pot."),
    ("xHr8X2Wpmno", 1, "add salt and pepper", "add salt, pepper and oil to the pot and stir it well for a while"),
    ("xHr8X2Wpmno", 2, "flip the sandwich over and press down", "flip the sandwich"),  # same sentence, other video
    ("V53XmPeyjIU", 0, "cut the chicken into small pieces", "cut cut cut the chicken chicken into pieces"),
    ("V53XmPeyjIU", 12, "fry the chicken in oil until it's golden brown", "fry the chicken until it is golden"),
]


def evaluate(ids: list[str], references: list[list[str]], predictions: list[str]) -> dict[str, Any]:
    """COCOEvalCap.evaluate() on these captions (SPICE stood in for): the scores and each image's CIDEr-D."""
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i} for i in ids],
        "annotations": [
            {"image_id": i, "caption": caption, "id": n}
            for n, (i, caption) in enumerate((i, c) for i, refs in zip(ids, references, strict=True) for c in refs)
        ],
    }
    coco.createIndex()
    results = coco.loadRes([{"image_id": i, "caption": p} for i, p in zip(ids, predictions, strict=True)])
    evaluator = coco_eval.COCOEvalCap(coco, results)
    evaluator.evaluate()
    return {
        "scores": {name: float(evaluator.eval[name]) for name in METRICS},
        "per_image_cider": [float(evaluator.imgToEval[i]["CIDEr"]) for i in ids],
    }


class NoSpice:
    """Stands in for pycocoevalcap's Spice, which downloads Stanford CoreNLP (fseval does not report SPICE)."""

    def compute_score(self, gts: dict[Any, Any], res: dict[Any, Any]) -> tuple[float, list[float]]:
        return 0.0, [0.0] * len(gts)

    def method(self) -> str:
        return "SPICE (not computed)"


def cases() -> list[dict[str, Any]]:
    steps = [(f"{video}_{step}", [ref], pred) for video, step, ref, pred in YOUCOOK2_STEPS]
    shaped = {
        "vatex": (list(VATEX_REFERENCES), list(VATEX_REFERENCES.values()), VATEX_PREDICTIONS),
        "youcook2": ([s[0] for s in steps], [s[1] for s in steps], [s[2] for s in steps]),
        "youcook2_one_step": ([steps[0][0]], [steps[0][1]], [steps[0][2]]),
    }
    found = []
    for name, (ids, references, predictions) in shaped.items():
        outcome = evaluate(ids, references, predictions)
        found.append({"name": name, "ids": ids, "references": references, "predictions": predictions, **outcome})
    return found


if __name__ == "__main__":
    coco_eval.Spice = NoSpice  # type: ignore[attr-defined,misc]
    record = {
        "pipeline": "pycocoevalcap COCOEvalCap.evaluate() on a pycocotools COCO object, SPICE left out",
        "packages": {name: version(name) for name in ("pycocoevalcap", "pycocotools", "numpy")},
        "cases": cases(),
    }
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
