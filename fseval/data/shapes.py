"""A synthetic "shapes" world in the original VQAv2 and Karpathy file formats: fseval's embedded default.

Each 64x64 image holds one to three coloured shapes side by side. Up to three questions per image
ask about colour, shape and count, and ten simulated annotators answer, a few of them in other
surface forms ("Two", "red.") so that the official answer normalisation matters. Every image also
has five captions of varied wording ("a red circle and a blue square.", "an image of ...") in a
Karpathy split file; the VQA train images are its ``train`` split and the val images its ``test``
split. ``python -m fseval.data.shapes DIR`` writes it; the copy bundled in ``fseval/assets/shapes``
was written with the defaults, and the same arguments always write the same bytes.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
SHAPES = ("circle", "square", "triangle")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
KARPATHY_FILE = "dataset_shapes.json"
# (VQAv2 split folder, Karpathy split of its images, first image id)
SPLITS = (("train2014", "train", 1), ("val2014", "test", 100001))

Scene = list[tuple[str, str]]  # (shape, colour), left to right


def _draw(scene: Scene, rng: random.Random, size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    cell = size // len(scene)
    r = min(cell // 3, size // 6)
    for i, (shape, color) in enumerate(scene):
        cx, cy = cell * i + cell // 2, rng.randint(r + 2, size - r - 2)
        box = (cx - r, cy - r, cx + r, cy + r)
        if shape == "circle":
            draw.ellipse(box, fill=COLORS[color])
        elif shape == "square":
            draw.rectangle(box, fill=COLORS[color])
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLORS[color])
    return image


def _annotators(answer: str, variants: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Ten answers: mostly the canonical one, sometimes a surface variant; ids as in VQAv2."""
    n_variants = rng.choice([0, 0, 1, 2])
    answers = [answer] * (10 - n_variants) + [rng.choice(variants) for _ in range(n_variants)]
    rng.shuffle(answers)
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)]


def _questions(scene: Scene, rng: random.Random) -> list[tuple[str, str, list[str], str]]:
    """(question, answer, surface variants, answer_type): one colour, one shape and one count question."""
    names = [s for s, _ in scene]
    colors = [c for _, c in scene]
    color_qs = [
        (f"What color is the {shape}?", color, [color.capitalize(), f"{color}."], "other")
        for shape, color in scene
        if names.count(shape) == 1
    ]
    shape_qs = [
        (f"What shape is the {color} object?", shape, [f"a {shape}", f"the {shape}"], "other")
        for shape, color in scene
        if colors.count(color) == 1
    ]
    n = len(scene)
    count_qs = [("How many shapes are there?", str(n), [NUMBER_WORDS[n], NUMBER_WORDS[n].capitalize()], "number")]
    return [rng.choice(items) for items in (color_qs, shape_qs, count_qs) if items]


def _phrase(shape: str, color: str, count: int) -> str:
    return f"a {color} {shape}" if count == 1 else f"{NUMBER_WORDS[count]} {color} {shape}s"


def _listing(scene: Scene) -> str:
    phrases = [_phrase(shape, color, k) for (shape, color), k in Counter(scene).items()]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def captions(scene: Scene, rng: random.Random) -> list[str]:
    """Five distinct descriptions of the scene in shuffled order (the first is what demos show)."""
    listing, backwards = _listing(scene), _listing(scene[::-1])
    n = len(scene)
    options = [
        f"{listing}.",
        f"an image of {listing}.",
        f"{listing} on a white background.",
        f"a picture with {listing}.",
        f"a drawing of {listing}.",
        f"{backwards}.",
        f"{NUMBER_WORDS[n]} shapes: {listing}." if n > 1 else f"a single {scene[0][1]} {scene[0][0]}.",
    ]
    distinct = list(dict.fromkeys(options))
    return rng.sample(distinct, 5)


def write_split(
    directory: Path, split: str, karpathy_split: str, n_images: int, rng: random.Random, size: int, start_id: int
) -> list[dict[str, Any]]:
    """Write one VQAv2 split (questions, annotations, images); return its Karpathy ``images`` entries."""
    (directory / split).mkdir(parents=True, exist_ok=True)
    questions, annotations, karpathy = [], [], []
    for k in range(n_images):
        image_id = start_id + k
        scene = [(rng.choice(SHAPES), rng.choice(list(COLORS))) for _ in range(rng.randint(1, 3))]
        filename = f"COCO_{split}_{image_id:012d}.jpg"
        _draw(scene, rng, size).save(directory / split / filename, quality=90)
        for j, (question, answer, variants, answer_type) in enumerate(_questions(scene, rng)):
            qid = image_id * 10 + j
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": image_id,
                    "question_type": " ".join(question.lower().split()[:2]),
                    "answer_type": answer_type,
                    "multiple_choice_answer": answer,
                    "answers": _annotators(answer, variants, rng),
                }
            )
        sentences = [
            {
                "tokens": raw.rstrip(".").replace(":", "").split(),
                "raw": raw,
                "imgid": image_id,
                "sentid": image_id * 10 + s,
            }
            for s, raw in enumerate(captions(scene, rng))
        ]
        karpathy.append(
            {
                "filepath": split,
                "filename": filename,
                "imgid": image_id,
                "split": karpathy_split,
                "sentids": [s["sentid"] for s in sentences],
                "cocoid": image_id,
                "sentences": sentences,
            }
        )
    info = {"description": "fseval synthetic shapes world", "version": "2.0"}
    common = {"info": info, "license": {"name": "CC0"}, "data_subtype": split}
    (directory / f"v2_OpenEnded_mscoco_{split}_questions.json").write_text(
        json.dumps({**common, "task_type": "Open-Ended", "data_type": "mscoco", "questions": questions})
    )
    (directory / f"v2_mscoco_{split}_annotations.json").write_text(
        json.dumps({**common, "data_type": "mscoco", "annotations": annotations})
    )
    return karpathy


def write_shapes(directory: Path, n_train: int = 160, n_val: int = 40, seed: int = 0, size: int = 64) -> Path:
    """Write the world under ``directory``: VQAv2 train2014/val2014 files and ``dataset_shapes.json``."""
    rng = random.Random(seed)
    images: list[dict[str, Any]] = []
    for (split, karpathy_split, start_id), n_images in zip(SPLITS, (n_train, n_val), strict=True):
        images += write_split(directory, split, karpathy_split, n_images, rng, size, start_id)
    (directory / KARPATHY_FILE).write_text(json.dumps({"images": images, "dataset": "shapes"}))
    return directory


if __name__ == "__main__":
    print(write_shapes(Path(sys.argv[1])))
