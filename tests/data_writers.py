"""Tiny datasets written in the benchmarks' original file formats, with images made by PIL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from PIL import Image

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


def write_image(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), COLORS[index % len(COLORS)]).save(path)


def vqa_answers(answers: list[str], with_ids: bool = True) -> list[dict[str, Any]]:
    return [
        {"answer": a, "answer_confidence": "yes", **({"answer_id": i + 1} if with_ids else {})}
        for i, a in enumerate(answers)
    ]


# (question, answers) per question; three questions per image.
VAL_QA = [
    ("What color is it?", ["red"] * 10),
    ("How many?", ["2", "2", "two", "2", "3", "2", "2", "2", "two", "2"]),
    ("Is it a dog?", ["yes"] * 7 + ["no"] * 3),
    ("What is it?", ["a cat", "cat", "cat", "kitten", "cat", "cat", "a cat", "cat", "cat", "cat"]),
    ("What sport?", ["tennis", "tennis", "badminton", "tennis", "tennis", "tennis", "tennis", "tennis", "tennis", "x"]),
    ("Time?", ["10:00", "10:00", "10", "10:00", "10:00", "ten", "10:00", "10:00", "10:00", "10:00"]),
]
TRAIN_QA = [(f"Train question {i}?", [f"answer{i}"] * 8 + ["other", "other"]) for i in range(12)]


def write_vqav2(root: Path, corrupt_image_id: int | None = None) -> Path:
    """VQAv2 layout; annotations are stored in reverse order so a join by position would be wrong."""
    for split, qa, first_image in (("val2014", VAL_QA, 1000), ("train2014", TRAIN_QA, 1)):
        questions, annotations = [], []
        for i, (question, answers) in enumerate(qa):
            image_id = first_image + i // 3
            qid = image_id * 10 + i % 3
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": image_id,
                    "question_type": "what",
                    "answer_type": "other",
                    "multiple_choice_answer": answers[0],
                    "answers": vqa_answers(answers),
                }
            )
            image = root / split / f"COCO_{split}_{image_id:012d}.jpg"
            if image_id == corrupt_image_id:
                image.parent.mkdir(parents=True, exist_ok=True)
                image.write_bytes(b"not a jpeg")
            elif not image.exists():
                write_image(image, image_id)
        info = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": split, "license": {}}
        (root / f"v2_OpenEnded_mscoco_{split}_questions.json").write_text(json.dumps({**info, "questions": questions}))
        (root / f"v2_mscoco_{split}_annotations.json").write_text(
            json.dumps({**info, "annotations": annotations[::-1]})
        )
    return root


def write_textvqa(root: Path, official: bool) -> Path:
    for split, qa, first_id in (("val", VAL_QA, 34602), ("train", TRAIN_QA, 0)):
        items = []
        for i, (question, answers) in enumerate(qa):
            image_id = f"{split}{i:04x}"
            write_image(root / "train_images" / f"{image_id}.jpg", i)
            items.append({"question": question, "image_id": image_id, "question_id": first_id + i, "answers": answers})
        if official:
            data = {"dataset_type": split, "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": items}
            (root / f"TextVQA_0.5.1_{split}.json").write_text(json.dumps(data))
        else:
            questions = [{k: it[k] for k in ("question", "image_id", "question_id")} for it in items]
            annotations = [
                {"question_id": it["question_id"], "image_id": it["image_id"], "answers": vqa_answers(it["answers"])}
                for it in items
            ]
            (root / f"{split}_questions_vqa_format.json").write_text(json.dumps({"questions": questions}))
            (root / f"{split}_annotations_vqa_format.json").write_text(json.dumps({"annotations": annotations}))
    return root


def write_vizwiz(root: Path, official: bool) -> Path:
    for split, qa in (("val", VAL_QA), ("train", TRAIN_QA)):
        items = []
        for i, (question, answers) in enumerate(qa):
            image = f"VizWiz_{split}_{i:08d}.jpg"
            write_image(root / split / image, i)
            items.append({"image": image, "question": question, "answers": vqa_answers(answers, with_ids=False)})
        if official:
            (root / "Annotations").mkdir(parents=True, exist_ok=True)
            (root / "Annotations" / f"{split}.json").write_text(json.dumps(items))
        else:
            questions = [
                {"question": it["question"], "image_id": it["image"], "question_id": i} for i, it in enumerate(items)
            ]
            annotations = [
                {"question_id": i, "image_id": it["image"], "answers": it["answers"]} for i, it in enumerate(items)
            ]
            (root / f"{split}_questions_vqa_format.json").write_text(json.dumps({"questions": questions}))
            (root / f"{split}_annotations_vqa_format.json").write_text(json.dumps({"annotations": annotations}))
    return root


MEMES = [(1, "love this", 0), (2, "hate that", 1), (3, "nice day", 0), (4, "go away", 1), (5, "hello", 0)]


def write_hateful_memes(root: Path) -> Path:
    for name, items in (("dev_seen.jsonl", MEMES), ("train.jsonl", [(10 + i, f"t{i}", i % 2) for i in range(6)])):
        lines = []
        for meme_id, text, label in items:
            write_image(root / "img" / f"{meme_id:05d}.png", meme_id)
            lines.append(json.dumps({"id": meme_id, "img": f"img/{meme_id:05d}.png", "text": text, "label": label}))
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def write_imagenet(root: Path, classes_with_images: tuple[int, ...] = (0, 1, 2)) -> Path:
    """ImageFolder layout with all 1000 synset folders; only a few hold images."""
    for split, per_class in (("train", 2), ("val", 1)):
        for index in range(1000):
            folder = root / split / f"n{index:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            if index in classes_with_images:
                for k in range(per_class):
                    write_image(folder / f"{split}_{index}_{k}.JPEG", index + k)
    return root


def flat(output: str) -> str:
    """CLI output without rich's panel borders and line wrapping, for substring checks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


CAPTIONS = [
    ["A red square on a white table.", "a red box", "The square is red.", "red square", "A square, red."],
    ["Two dogs run in the park.", "dogs running", "two dogs playing outside", "Dogs in a park.", "two dogs"],
    ["A man rides a bike.", "a person on a bicycle", "man riding bike", "A cyclist.", "someone biking"],
    ["A cat sleeps on a sofa.", "a sleeping cat", "cat on the couch", "The cat is asleep.", "a cat"],
]


def write_karpathy(root: Path, flickr: bool = False) -> Path:
    """``dataset_coco.json`` (COCO images under train2014/val2014) or ``dataset_flickr30k.json``."""
    images = []
    for i in range(10):
        split = "test" if i < 4 else "train"
        sentences = [{"raw": raw, "tokens": raw.lower().split()} for raw in CAPTIONS[i % len(CAPTIONS)]]
        if flickr:
            item = {"filename": f"{1000 + i}.jpg", "split": split, "sentences": sentences, "imgid": i}
            write_image(root / "flickr30k-images" / item["filename"], i)
        else:
            filepath = "val2014" if split == "test" else "train2014"
            filename = f"COCO_{filepath}_{i:012d}.jpg"
            item = {"filepath": filepath, "filename": filename, "cocoid": i, "split": split, "sentences": sentences}
            write_image(root / filepath / filename, i)
        images.append(item)
    name = "dataset_flickr30k.json" if flickr else "dataset_coco.json"
    (root / name).write_text(json.dumps({"images": images, "dataset": "flickr30k" if flickr else "coco"}))
    return root


def run_outputs(run_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """What a run directory says: its samples.jsonl lines and the results block of results.json."""
    results = json.loads((run_dir / "results.json").read_text())
    return (run_dir / "samples.jsonl").read_text().splitlines(), results["results"]
