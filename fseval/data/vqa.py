"""Loaders for the original release files of the VQA family.

- ``vqa_json``: the VQAv2 / OK-VQA layout (``*_questions.json`` with ``questions[]`` and
  ``*_annotations.json`` with ``annotations[]``), also used by OpenFlamingo's converted TextVQA and
  VizWiz files. Questions and annotations are joined by ``question_id``, not by list position.
- ``textvqa_json``: TextVQA 0.5.1 (``TextVQA_0.5.1_{train,val}.json``: ``data[]`` with ``answers``
  as 10 strings).
- ``vizwiz_json``: VizWiz VQA (``Annotations/{train,val}.json``: a list with no question ids;
  the list index is the id, as in OpenFlamingo's converted files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fseval.data.base import answer_meta, read_json, require, require_list
from fseval.errors import DataError
from fseval.types import MediaRef, Sample


def image_ref(root: Path, template: str, record: dict[str, Any], source: Path) -> MediaRef:
    try:
        relative = template.format_map(record)
    except (KeyError, ValueError, IndexError) as e:
        # Recorded, not raised: scoring needs no images, and a run reports it before loading a model.
        return MediaRef(key=template, error=f"{source}: cannot build the image path {template!r} from a record: {e!r}")
    path = root / relative
    return MediaRef(key=str(path), path=path)


def read_vqa_json(root: Path, questions: str, annotations: str | None, images: str) -> list[Sample]:
    q_path = root / questions
    records = require_list(read_json(q_path), "questions", q_path)
    by_id: dict[Any, dict[str, Any]] = {}
    a_path = root / annotations if annotations else None
    if a_path is not None:
        for i, ann in enumerate(require_list(read_json(a_path), "annotations", a_path)):
            by_id[require(ann, "question_id", a_path, f"annotations[{i}]")] = ann
    samples = []
    for i, q in enumerate(records):
        where = f"questions[{i}]"
        qid = require(q, "question_id", q_path, where)
        fields: dict[str, Any] = {
            "question_id": qid,
            "question": require(q, "question", q_path, where),
            "image_id": require(q, "image_id", q_path, where),
        }
        if a_path is not None:
            if qid not in by_id:
                raise DataError(
                    f"{a_path} has no annotation for question_id {qid} of {q_path}.",
                    hint="The questions and annotations files must come from the same split.",
                )
            answers = require(by_id[qid], "answers", a_path, f"the annotation of question_id {qid}")
            fields["answers"] = [require(a, "answer", a_path, f"an answer of question_id {qid}") for a in answers]
            fields["answer_meta"] = [answer_meta(a) for a in answers]
            # The official script's groups (perAnswerType, perQuestionType), where the release has them.
            fields |= {key: by_id[qid][key] for key in ("answer_type", "question_type") if key in by_id[qid]}
        samples.append(Sample(id=qid, media=(image_ref(root, images, q, q_path),), fields=fields))
    return samples


def read_textvqa_json(root: Path, file: str, images: str) -> list[Sample]:
    path = root / file
    samples = []
    for i, item in enumerate(require_list(read_json(path), "data", path)):
        where = f"data[{i}]"
        qid = require(item, "question_id", path, where)
        fields: dict[str, Any] = {
            "question_id": qid,
            "question": require(item, "question", path, where),
            "image_id": require(item, "image_id", path, where),
        }
        if "answers" in item:
            fields["answers"] = list(item["answers"])
            # OpenFlamingo's converted files number the answers 1..10 with confidence "yes"; the
            # same metadata keeps the openflamingo metric variant identical on both layouts.
            fields["answer_meta"] = [
                json.dumps({"answer_confidence": "yes", "answer_id": n + 1}, sort_keys=True)
                for n in range(len(item["answers"]))
            ]
        samples.append(Sample(id=qid, media=(image_ref(root, images, item, path),), fields=fields))
    return samples


def read_vizwiz_json(root: Path, file: str, images: str) -> list[Sample]:
    path = root / file
    samples = []
    for i, item in enumerate(require_list(read_json(path), None, path)):
        where = f"item {i}"
        fields: dict[str, Any] = {
            "question_id": i,
            "question": require(item, "question", path, where),
            "image_id": require(item, "image", path, where),
            "image": item["image"],
        }
        if "answers" in item:
            fields["answers"] = [require(a, "answer", path, f"an answer of {where}") for a in item["answers"]]
            fields["answer_meta"] = [answer_meta(a) for a in item["answers"]]
        fields |= {key: item[key] for key in ("answer_type", "answerable") if key in item}
        samples.append(Sample(id=i, media=(image_ref(root, images, fields, path),), fields=fields))
    return samples
