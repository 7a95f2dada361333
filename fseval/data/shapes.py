"""A synthetic "shapes" world in the original VQAv2 file format: fseval's embedded default dataset.

Each image holds one to three coloured shapes; questions ask about colour, shape and count, and
ten simulated annotators answer, a few of them in other surface forms ("Two", "red.") so that the
official answer normalisation matters. ``python -m fseval.data.shapes DIR`` writes it; the copy
bundled in ``fseval/assets/shapes`` was written with the defaults.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
SHAPES = ("circle", "square", "triangle")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def _draw(shapes: list[tuple[str, str]], rng: random.Random, size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    cell = size // len(shapes)
    for i, (shape, color) in enumerate(shapes):
        r = cell // 3
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


def _questions(shapes: list[tuple[str, str]]) -> list[tuple[str, str, list[str], str]]:
    """(question, answer, surface variants, answer_type) about one image."""
    items = []
    names = [s for s, _ in shapes]
    colors = [c for _, c in shapes]
    for shape, color in shapes:
        if names.count(shape) == 1:
            items.append((f"What color is the {shape}?", color, [color.capitalize(), f"{color}."], "other"))
        if colors.count(color) == 1:
            items.append((f"What shape is {color}?", shape, [f"a {shape}", f"the {shape}"], "other"))
    n = len(shapes)
    items.append(("How many shapes are there?", str(n), [NUMBER_WORDS[n], NUMBER_WORDS[n].capitalize()], "number"))
    return items


def write_split(directory: Path, split: str, n_images: int, rng: random.Random, size: int, start_id: int) -> None:
    (directory / split).mkdir(parents=True, exist_ok=True)
    questions, annotations = [], []
    for k in range(n_images):
        image_id = start_id + k
        shapes = [(rng.choice(SHAPES), rng.choice(list(COLORS))) for _ in range(rng.randint(1, 3))]
        _draw(shapes, rng, size).save(directory / split / f"COCO_{split}_{image_id:012d}.jpg", quality=90)
        for j, (question, answer, variants, answer_type) in enumerate(_questions(shapes)[:3]):
            qid = image_id * 10 + j
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": image_id,
                    "question_type": question.split(" is ")[0].lower(),
                    "answer_type": answer_type,
                    "multiple_choice_answer": answer,
                    "answers": _annotators(answer, variants, rng),
                }
            )
    info = {"description": "fseval synthetic shapes world", "version": "1.0"}
    common = {"info": info, "license": {"name": "CC0"}, "data_subtype": split}
    (directory / f"v2_OpenEnded_mscoco_{split}_questions.json").write_text(
        json.dumps({**common, "task_type": "Open-Ended", "data_type": "mscoco", "questions": questions})
    )
    (directory / f"v2_mscoco_{split}_annotations.json").write_text(
        json.dumps({**common, "data_type": "mscoco", "annotations": annotations})
    )


def write_shapes(directory: Path, n_train: int = 48, n_val: int = 24, seed: int = 0, size: int = 64) -> Path:
    rng = random.Random(seed)
    write_split(directory, "train2014", n_train, rng, size, start_id=1)
    write_split(directory, "val2014", n_val, rng, size, start_id=100001)
    return directory


if __name__ == "__main__":
    print(write_shapes(Path(sys.argv[1])))
