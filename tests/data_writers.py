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


# ScienceQA problems: (pid, question, choices, answer index, hint, has image, subject, topic, grade).
# fmt: off
SCIENCEQA_TEST = [
    ("4", "Which of these states is farthest north?", ["West Virginia", "Louisiana", "Arizona"], 0, "", True,
     "social science", "geography", "grade2"),
    ("5", "Which animal's feet are adapted for sticking to smooth surfaces?", ["tiger salamander", "day gecko"], 1,
     "Figure: tokay gecko.", True, "natural science", "biology", "grade4"),
    ("11", "Which word does not rhyme?", ["bike", "hike", "lake"], 2, "", True,
     "language science", "phonological-awareness", "grade1"),
    ("15", "What is the mass of a pineapple?", ["2 kilograms", "2 grams"], 0, "Select the better estimate.", True,
     "natural science", "units-and-measurement", "grade8"),
    ("22", "Which is a compound?", ["oxygen", "water"], 1, "", True, "natural science", "chemistry", "grade7"),
    ("23", "Which tense does the sentence use?", ["past tense", "future tense"], 0, "Mona baked a cake.", False,
     "language science", "verbs", "grade3"),
    ("26", "Which is a verb?", ["run", "blue"], 0, "", False, "language science", "grammar", "grade2"),
]
SCIENCEQA_TRAIN = [
    (str(100 + i), f"Train question {i}?", [f"choice{i}a", f"choice{i}b"], i % 2, f"Hint {i}." if i % 3 else "",
     i != 6, "natural science", "physics", f"grade{3 + i}")
    for i in range(7)
]
# fmt: on


def write_scienceqa(root: Path) -> Path:
    """``problems.json``, ``pid_splits.json`` and ``images/<split>/<pid>/image.png`` of the lupantech release."""
    problems: dict[str, Any] = {}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": [], "minitest": []}
    for split, items in (("test", SCIENCEQA_TEST), ("train", SCIENCEQA_TRAIN)):
        for n, (pid, question, choices, answer, hint, image, subject, topic, grade) in enumerate(items):
            problems[pid] = {
                "question": question, "choices": choices, "answer": answer, "hint": hint,
                "image": "image.png" if image else None, "task": "closed choice", "grade": grade,
                "subject": subject, "topic": topic, "category": topic.title(), "skill": f"Skill of {topic}",
                "lecture": f"Lecture on {topic}.", "solution": f"The answer is {choices[answer]}.", "split": split,
            }  # fmt: skip
            splits[split].append(pid)
            if image:
                write_image(root / "images" / split / pid / "image.png", n)
    splits["minitest"] = splits["test"][:3]
    (root / "problems.json").write_text(json.dumps(problems, indent=2))
    (root / "pid_splits.json").write_text(json.dumps(splits))
    return root


def write_rendered_sst2(root: Path) -> Path:
    """CLIP's Rendered SST2 folders: ``{train,valid,test}/{negative,positive}/*.png``."""
    counts = {"train": 3, "valid": 1, "test": 2}
    for split, per_class in counts.items():
        for c, label in enumerate(("negative", "positive")):
            for k in range(per_class):
                image = Image.new("RGB", (24, 12), (255, 255, 255))
                image.putpixel((k, c), (0, 0, 0))  # each image differs, as each rendered sentence does
                folder = root / split / label
                folder.mkdir(parents=True, exist_ok=True)
                image.save(folder / f"{split}_{label}_{k}.png")
    return root


# Winoground examples: (caption_0, caption_1, tag, secondary_tag, num_main_preds, collapsed_tag), ids 0-5.
WINOGROUND_EXAMPLES = [
    ("an old person kisses a young person", "a young person kisses an old person", "Adjective-Age", "", 1, "Relation"),
    ("a person watches an animal", "an animal watches a person", "Noun", "", 1, "Object"),
    ("the red cup is left of the blue one", "the blue cup is left of the red one", "Adjective-Color", "Symbolic", 1,
     "Object"),
    ("some plants surround a lightbulb", "a lightbulb surrounds some plants", "Relation", "Symbolic, Series", 1,
     "Relation"),
    ("the dog runs and the cat sits", "the cat runs and the dog sits", "Noun", "Pragmatics", 2, "Both"),
    ("a bird eats a snake", "a snake eats a bird", "Noun", "", 1, "Object"),
]  # fmt: skip


def write_winoground(root: Path, drop_field: str | None = None) -> Path:
    """The release's ``examples.jsonl`` and ``images/<ex_<id>_img_<k>>.png`` (one stored RGBA, as some are)."""
    lines = []
    for i, (caption_0, caption_1, tag, secondary, preds, collapsed) in enumerate(WINOGROUND_EXAMPLES):
        example = {"id": i, "caption_0": caption_0, "caption_1": caption_1, "image_0": f"ex_{i}_img_0",
                   "image_1": f"ex_{i}_img_1", "tag": tag, "secondary_tag": secondary, "num_main_preds": preds,
                   "collapsed_tag": collapsed}  # fmt: skip
        if drop_field is not None and i == 3:
            del example[drop_field]
        lines.append(json.dumps(example))
        for k in (0, 1):
            write_image(root / "images" / f"ex_{i}_img_{k}.png", 2 * i + k)
    Image.new("RGBA", (16, 16), (10, 20, 30, 128)).save(root / "images" / "ex_2_img_0.png")
    (root / "examples.jsonl").write_text("\n".join(lines) + "\n")
    return root


def write_textcaps(root: Path) -> Path:
    """``TextCaps_0.1_{train,val}.json`` (one record per caption, ``reference_strs`` repeated) and TextVQA's
    ``train_images/``; val has 3 images of 5 captions, train 6 images of 2."""
    for split, count, per_image in (("val", 3, 5), ("train", 6, 2)):
        records = []
        for i in range(count):
            image_id = f"{split[0]}{i:015x}"
            write_image(root / "train_images" / f"{image_id}.jpg", i)
            references = [f"{caption} {split}" for caption in CAPTIONS[i % len(CAPTIONS)][:per_image]]
            for n, caption in enumerate(references):
                records.append({
                    "image_id": image_id, "image_name": image_id, "image_path": f"train/{image_id}.jpg",
                    "image_classes": ["Poster"], "image_width": 16, "image_height": 16, "set_name": split,
                    "flickr_original_url": "", "flickr_300k_url": "", "caption_id": 100 * i + n,
                    "caption_str": caption, "caption_tokens": caption.lower().split(),
                    "reference_strs": references, "reference_tokens": [r.lower().split() for r in references],
                })  # fmt: skip
        data = {"dataset_type": split, "dataset_name": "textcaps", "dataset_version": "0.1", "data": records}
        (root / f"TextCaps_0.1_{split}.json").write_text(json.dumps(data))
    return root


def write_nocaps(root: Path) -> Path:
    """``nocaps/nocaps_val_4500_captions.json`` with ``nocaps/val/`` images, two of each domain and 10 captions
    each, beside ``coco/`` (Karpathy's ``dataset_coco.json`` and its images) for the demos."""
    images, annotations = [], []
    for i, domain in enumerate(["in-domain", "near-domain", "out-domain"] * 2):
        open_images_id = f"{i:016x}"
        write_image(root / "nocaps" / "val" / f"{open_images_id}.jpg", i)
        images.append({
            "id": i, "open_images_id": open_images_id, "height": 16, "width": 16, "license": 0,
            "coco_url": f"https://s3.amazonaws.com/nocaps/val/{open_images_id}.jpg",
            "file_name": f"{open_images_id}.jpg", "date_captured": "2018-11-06 11:04:33", "domain": domain,
        })  # fmt: skip
        captions = CAPTIONS[i % len(CAPTIONS)] * 2
        annotations += [{"image_id": i, "id": 10 * i + n, "caption": c} for n, c in enumerate(captions)]
    data = {"licenses": [], "info": {"description": "nocaps validation dataset", "version": "0.1"},
            "images": images, "annotations": annotations}  # fmt: skip
    (root / "nocaps" / "nocaps_val_4500_captions.json").write_text(json.dumps(data))
    write_karpathy(root / "coco")
    return root


VISDIAL_ROUNDS = 3  # rounds per dialog (the release has 10; the format allows fewer, as its test split does)


def write_visdial(root: Path, rounds: int = VISDIAL_ROUNDS) -> Path:
    """VisDial v1.0: ``visdial_1.0_{train,val}.json``, the val dense annotations and the images.

    Val has 3 dialogs (VisualDialog_val2018 images); train 5 (COCO 2014 images, one in val2014/). Each
    round has 100 options; its answer sits at option ``(7 * round + image) % 100``. The dense
    annotations cover one round of the first two val images.
    """
    questions = [f"what is thing {i}" for i in range(20)]
    answers = [f"option {i}" for i in range(110)] + ["yes", "no", "it is red", "two of them"]
    dense = []
    for split, image_ids in (("val", [101, 102, 103]), ("train", [1, 2, 3, 4, 5])):
        dialogs = []
        for n, image_id in enumerate(image_ids):
            turns = []
            for r in range(rounds):
                options = [(image_id + r + j) % 110 for j in range(99)]
                gt_index = (7 * (r + 1) + n) % 100
                options.insert(gt_index, 110 + (n + r) % 4)
                question = (3 * n + r) % len(questions)
                turn = {"question": question, "answer": options[gt_index], "answer_options": options}
                turns.append({**turn, "gt_index": gt_index})
            dialogs.append({"image_id": image_id, "caption": f"a picture of scene {image_id}", "dialog": turns})
            if split == "val":
                write_image(root / "VisualDialog_val2018" / f"VisualDialog_val2018_{image_id:012d}.jpg", n)
                if n < 2:
                    relevance = [0.0] * 100
                    relevance[(7 * (n + 1) + n) % 100] = 1.0
                    relevance[(n + 5) % 100] = 0.4
                    dense.append({"image_id": image_id, "round_id": n + 1, "gt_relevance": relevance})
            else:
                folder = "val2014" if image_id == 3 else "train2014"
                write_image(root / folder / f"COCO_{folder}_{image_id:012d}.jpg", n + 3)
        data = {"questions": questions, "answers": answers, "dialogs": dialogs}
        (root / f"visdial_1.0_{split}.json").write_text(json.dumps({"version": "1.0", "split": split, "data": data}))
    (root / "visdial_1.0_val_dense_annotations.json").write_text(json.dumps(dense))
    return root


# Test splits as released without answers or labels (and Hateful Memes test_seen, whose labels are released).
TEST_QUESTIONS = ["What is written?", "Which way?", "What brand?", "How many?"]


def write_vqav2_test(root: Path) -> Path:
    """VQAv2 train2014 (demos) and test2015 questions; test-dev2015 holds every other test2015 question."""
    write_vqav2(root)
    questions = []
    for i, question in enumerate(TEST_QUESTIONS * 2):
        image_id = 3000 + i // 2
        questions.append({"image_id": image_id, "question": question, "question_id": image_id * 1000 + i % 2})
        write_image(root / "test2015" / f"COCO_test2015_{image_id:012d}.jpg", i)
    info = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {}}
    for subtype, subset in (("test2015", questions), ("test-dev2015", questions[::2])):
        data = {**info, "data_subtype": subtype, "questions": subset}
        (root / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(json.dumps(data))
    return root


def write_vizwiz_test(root: Path) -> Path:
    """VizWiz's official files with ``Annotations/test.json``: image and question, no answers."""
    write_vizwiz(root, official=True)
    items = []
    for i, question in enumerate(TEST_QUESTIONS):
        image = f"VizWiz_test_{i:08d}.jpg"
        write_image(root / "test" / image, i)
        items.append({"image": image, "question": question})
    (root / "Annotations" / "test.json").write_text(json.dumps(items))
    return root


def write_textvqa_test(root: Path) -> Path:
    """TextVQA 0.5.1's official files with ``TextVQA_0.5.1_test.json``: no answers, images in test_images/."""
    write_textvqa(root, official=True)
    items = []
    for i, question in enumerate(TEST_QUESTIONS):
        image_id = f"test{i:04x}"
        write_image(root / "test_images" / f"{image_id}.jpg", i)
        items.append({"question": question, "image_id": image_id, "question_id": 40000 + i, "image_classes": []})
    data = {"dataset_type": "test", "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": items}
    (root / "TextVQA_0.5.1_test.json").write_text(json.dumps(data))
    return root


# (id, text, label) of test_seen; test_unseen is released without its labels. The text is what the
# mock answers with ``mode=field field=text``: "yes", "no", or neither (a tie), so P(yes) takes three values.
MEMES_TEST = [
    (101, "yes", 1),
    (102, "no", 0),
    (103, "maybe", 1),
    (104, "yes", 0),
    (105, "no", 1),
    (106, "maybe", 0),
    (107, "yes", 1),
    (108, "no", 0),
]


def write_hateful_memes_test(root: Path) -> Path:
    """Hateful Memes' files with ``test_seen.jsonl`` (labelled) and ``test_unseen.jsonl`` (no labels)."""
    write_hateful_memes(root)
    for name, labelled in (("test_seen.jsonl", True), ("test_unseen.jsonl", False)):
        lines = []
        for meme_id, text, label in MEMES_TEST:
            write_image(root / "img" / f"{meme_id:05d}.png", meme_id)
            item = {"id": meme_id, "img": f"img/{meme_id:05d}.png", "text": text}
            lines.append(json.dumps({**item, "label": label} if labelled else item))
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def write_nocaps_test(root: Path) -> Path:
    """``nocaps/nocaps_test_image_info.json`` (images only: captions and domains withheld) with ``nocaps/test/``
    images, beside ``coco/`` for the demos."""
    images = []
    for i in range(4):
        open_images_id = f"{100 + i:016x}"
        write_image(root / "nocaps" / "test" / f"{open_images_id}.jpg", i)
        images.append({
            "id": i, "open_images_id": open_images_id, "height": 16, "width": 16, "license": 0,
            "coco_url": f"https://s3.amazonaws.com/nocaps/test/{open_images_id}.jpg",
            "file_name": f"{open_images_id}.jpg", "date_captured": "2018-11-06 11:04:33",
        })  # fmt: skip
    data = {"licenses": [], "info": {"description": "nocaps test dataset", "version": "0.1"}, "images": images}
    (root / "nocaps" / "nocaps_test_image_info.json").write_text(json.dumps(data))
    write_karpathy(root / "coco")
    return root
