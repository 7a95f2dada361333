"""Record the COCO caption evaluation of a NoCaps-shaped set, as ``nocaps_cider``'s fixture
(``tests/fixtures/official_nocaps/cases.json``, read by ``tests/metrics/test_nocaps.py``).

NoCaps' own scoring runs on EvalAI (challenge 355) and its script is not public; nocaps-org/updown-baseline
(commit d124faa, ``updown/utils/evalai.py``) is the client that submits COCO-format predictions
``[{"image_id", "caption"}]`` there and reads back ``in-domain``, ``near-domain``, ``out-domain`` and ``entire``
scores. What can be run is the evaluation those scores are made of: pycocoevalcap's ``COCOEvalCap.evaluate()``
on ``pycocotools``' ``COCO`` of a NoCaps-format annotation file (``images[]`` with ``domain``,
``annotations[]``) and ``loadRes`` of the predictions file, written to disk as the server receives them. This
script records, on nine images (three per domain, ten references each, as NoCaps has):

- ``entire``: the scores of the whole set and each image's CIDEr-D (``imgToEval``);
- ``domains``: per domain, the mean of those per-image CIDEr-D (numpy's mean, as ``Cider`` averages), which
  is how the server's published numbers relate entire and domain CIDEr (see ``fseval/metrics/nocaps.py``);
- ``domains_alone``: per domain, ``COCOEvalCap`` on that domain's images alone (IDF from its references only),
  the other reading, which the test shows differs.

SPICE is swapped for a stand-in that scores nothing: it downloads Stanford CoreNLP, and fseval does not report
it. Run in a throwaway venv with the pinned packages, with Java on PATH:

    python3 -m venv /tmp/nocaps-eval
    /tmp/nocaps-eval/bin/pip install pycocoevalcap==1.2 pycocotools==2.0.11 numpy==2.4.6
    /tmp/nocaps-eval/bin/python scripts/make_nocaps_fixture.py tests/fixtures/official_nocaps/cases.json

The captions cover what the pipeline treats specially: capitals and punctuation, clitics, a prediction equal to
a reference, an empty prediction, n-gram repeats that CIDEr-D clips, words shared across domains (document
frequency) and words only one domain uses (whose IDF depends on which images count). A second set, ``textcaps``,
is three TextCaps-shaped images (five references naming the text in the image: brands, prices, numbers) scored
the same way, for the ``caption`` metric of the ``textcaps`` task.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from pycocoevalcap import eval as coco_eval
from pycocotools.coco import COCO

METRICS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")

# (NoCaps image id, Open Images id, domain, ten references, the prediction)
# fmt: off
IMAGES: list[tuple[int, str, str, list[str], str]] = [
    (0, "0013ea2087020901", "in-domain", [
        "A baby is standing in front of a house.",
        "A little girl in a white jacket and sandals.",
        "A young child stands in front of a house.",
        "A child is wearing a white shirt and standing on a side walk.",
        "A little boy is standing in his diaper with a white shirt on.",
        "A child wearing a diaper and shoes stands on the sidewalk.",
        "A child in a white top stands outside a house.",
        "A toddler standing on a path near a home.",
        "A small kid is standing on the pavement outside.",
        "A baby wearing white stands near the front door.",
    ], "a young child standing in front of a house"),
    (1, "002ab5e4a8e5b0a4", "in-domain", [
        "A man riding a horse on a dirt road.",
        "A person rides a brown horse down a trail.",
        "A rider on a horse in the countryside.",
        "A man on horseback travels along a path.",
        "Someone is riding a horse outdoors.",
        "A cowboy rides his horse through a field.",
        "A horse and its rider on a country road.",
        "The man is riding a brown horse.",
        "A person on a horse near some trees.",
        "A man rides a horse on a sunny day.",
    ], "The man is riding a brown horse."),  # a reference, word for word
    (2, "0038a8d4c6e1a7a4", "in-domain", [
        "Two dogs are playing in the snow.",
        "A pair of dogs run through the snow.",
        "Dogs playing together on a snowy field.",
        "Two dogs chase each other in the snow.",
        "Two puppies romp in white snow.",
        "A couple of dogs in a snowy yard.",
        "The dogs are running in the snow.",
        "Two dogs play outside in winter.",
        "Two dogs wrestle in deep snow.",
        "Dogs having fun in the snow.",
    ], ""),  # an empty caption
    (3, "004e21eb2e686f40", "near-domain", [
        "A red lighthouse stands on a rocky shore.",
        "A lighthouse next to the ocean.",
        "The lighthouse is red and white.",
        "A tall lighthouse on the coast under a blue sky.",
        "A lighthouse overlooking the sea.",
        "A red lighthouse near the water.",
        "A lighthouse on some rocks by the sea.",
        "A lighthouse with a red roof on the coast.",
        "A lighthouse beside the ocean on a clear day.",
        "A coastal lighthouse painted red.",
    ], "a red and white lighthouse on the rocks by the sea"),
    (4, "006f3f8ef5b4b2c1", "near-domain", [
        "A man is playing a violin on stage.",
        "A musician plays the violin.",
        "A violinist performs in front of an audience.",
        "A man holds a violin and a bow.",
        "A person playing a fiddle at a concert.",
        "A man in a suit plays the violin.",
        "A violin player on a stage with lights.",
        "Someone is performing on the violin.",
        "A man plays music on his violin.",
        "The violinist is playing a song.",
    ], "a man man man playing playing a violin violin violin"),  # repeats CIDEr-D clips
    (5, "0071fa1b2d9b3e5c", "near-domain", [
        "A plate of sushi on a wooden table.",
        "Sushi rolls served on a plate.",
        "Several pieces of sushi on a dish.",
        "A dish of sushi and chopsticks.",
        "Sushi arranged on a white plate.",
        "A meal of sushi with soy sauce.",
        "Pieces of sushi lie on the plate.",
        "A plate full of colorful sushi.",
        "Sushi and wasabi on a plate.",
        "Japanese sushi on a serving plate.",
    ], "Sushi (with wasabi) on a plate -- it's a meal!"),  # brackets, dashes, clitics
    (6, "0083c4b1e2f1a6d7", "out-domain", [
        "A jellyfish floating in dark blue water.",
        "A glowing jellyfish swims in the ocean.",
        "A jellyfish with long tentacles.",
        "A pink jellyfish in an aquarium.",
        "A jellyfish drifting underwater.",
        "A translucent jellyfish in the sea.",
        "The jellyfish is swimming in the water.",
        "A jellyfish against a black background.",
        "A jellyfish with trailing tentacles in the water.",
        "A single jellyfish in the deep sea.",
    ], "a jellyfish floating in the water"),
    (7, "0091a2b3c4d5e6f7", "out-domain", [
        "A tortoise walking on the grass.",
        "A large tortoise crawls across a lawn.",
        "A turtle on the green grass.",
        "A tortoise in a grassy field.",
        "A big tortoise moves slowly on grass.",
        "The tortoise is walking outside.",
        "A tortoise with a brown shell.",
        "A tortoise eating some grass.",
        "An old tortoise on the lawn.",
        "A tortoise walks through a garden.",
    ], "A TORTOISE WALKING ON THE GRASS."),  # capitals
    (8, "00a1b2c3d4e5f601", "out-domain", [
        "A harp in a concert hall.",
        "A golden harp on a stage.",
        "A woman plays the harp.",
        "A large harp with many strings.",
        "A harp next to a piano.",
        "A musician playing a harp on stage.",
        "The harp is standing in a room.",
        "A harp with gold decorations.",
        "A harpist performs a song.",
        "An ornate harp in a music hall.",
    ], "a man playing a harp on a stage"),
]
# fmt: on


# TextCaps-shaped images (five references each, text read off the image): scored by the same COCOEvalCap, as
# fseval's ``caption`` metric scores TextCaps. (image_id, domain: unused, references, the prediction)
# fmt: off
TEXTCAPS: list[tuple[int, str, str, list[str], str]] = [
    (0, "011e7e629fb9ae7b", "", [
        "A bottle of Coca-Cola Zero sits on a table.",
        "A can that says 'Coke Zero' on the side.",
        "Coca-Cola bottle with a red label next to a glass.",
        "A Coke Zero bottle that is half empty.",
        "The bottle of soda is labeled Coca-Cola.",
    ], "a bottle of coca-cola zero on a table"),
    (1, "0a1b6d8e2c4f7a90", "", [
        "A price tag showing $5.99 on a shelf.",
        "The sign says the item costs $5.99.",
        "A yellow price label reading 5.99 dollars.",
        "Shelf tag for an item on sale for $5.99.",
        "A store price sticker that says $5.99 each.",
    ], "A price tag that says $5.99."),
    (2, "0f3c2a1b9d8e7f65", "", [
        "A jersey with the number 7 and the name RONALDO.",
        "Soccer player wearing No. 7 on his back.",
        "A red shirt that says Ronaldo 7.",
        "The player's jersey reads RONALDO, number 7.",
        "Number 7 jersey of a football player.",
    ], "a soccer player wearing jersey number 23"),
]
# fmt: on


def evaluate(images: list[tuple[int, str, str, list[str], str]], scratch: Path) -> dict[str, Any]:
    """COCOEvalCap.evaluate() on the NoCaps-format files of these images: the scores and each image's CIDEr-D."""
    annotations = [
        {"image_id": image_id, "id": 10 * image_id + n, "caption": caption}
        for image_id, _, _, references, _ in images
        for n, caption in enumerate(references)
    ]
    dataset = {
        "info": {"description": "nocaps validation dataset (fseval fixture)", "version": "0.1"},
        "licenses": [],
        "images": [
            {"id": image_id, "open_images_id": oid, "file_name": f"{oid}.jpg", "domain": domain}
            for image_id, oid, domain, _, _ in images
        ],
        "annotations": annotations,
    }
    results = [{"image_id": image_id, "caption": prediction} for image_id, _, _, _, prediction in images]
    (scratch / "annotations.json").write_text(json.dumps(dataset), encoding="utf-8")
    (scratch / "results.json").write_text(json.dumps(results), encoding="utf-8")
    coco = COCO(str(scratch / "annotations.json"))
    evaluator = coco_eval.COCOEvalCap(coco, coco.loadRes(str(scratch / "results.json")))
    evaluator.evaluate()
    return {
        "scores": {name: float(evaluator.eval[name]) for name in METRICS},
        "per_image_cider": {str(i): float(evaluator.imgToEval[i]["CIDEr"]) for i, *_ in images},
    }


def record(scratch: Path) -> dict[str, Any]:
    entire = evaluate(IMAGES, scratch)
    domains, alone = {}, {}
    for domain in ("in-domain", "near-domain", "out-domain"):
        members = [image for image in IMAGES if image[2] == domain]
        domains[domain] = float(np.mean([entire["per_image_cider"][str(image[0])] for image in members]))
        alone[domain] = evaluate(members, scratch)["scores"]["CIDEr"]
    return {
        "source": "pycocoevalcap COCOEvalCap.evaluate() (SPICE stood in for) by scripts/make_nocaps_fixture.py",
        "versions": {name: version(name) for name in ("pycocoevalcap", "pycocotools", "numpy")},
        "images": [
            {"id": i, "open_images_id": oid, "domain": domain, "references": refs, "prediction": prediction}
            for i, oid, domain, refs, prediction in IMAGES
        ],
        "entire": entire,
        "domains": domains,
        "domains_alone": alone,
        "textcaps": {
            "images": [
                {"id": i, "references": refs, "prediction": prediction} for i, _, _, refs, prediction in TEXTCAPS
            ],
            **evaluate(TEXTCAPS, scratch),
        },
    }


class NoSpice:
    """Stands in for pycocoevalcap's Spice, which downloads Stanford CoreNLP (fseval does not report SPICE)."""

    def compute_score(self, gts: dict[Any, Any], res: dict[Any, Any]) -> tuple[float, list[float]]:
        return 0.0, [0.0] * len(gts)

    def method(self) -> str:
        return "SPICE (not computed)"


if __name__ == "__main__":
    coco_eval.Spice = NoSpice  # type: ignore[attr-defined,misc]
    with tempfile.TemporaryDirectory() as folder:
        found = record(Path(folder))
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(found, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
