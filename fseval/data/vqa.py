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

from operator import itemgetter
from pathlib import Path
from sys import intern
from typing import Any

from fseval.data.base import MediaRefs, answer_meta, distinct_answers, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import Sample

_ANSWER = itemgetter("answer")


def read_vqa_json(root: Path, questions: str, annotations: str | None, images: str) -> list[Sample]:
    q_path = root / questions
    records = require_list(read_json(q_path), "questions", q_path)
    a_path = root / annotations if annotations else None
    by_id = _annotations_by_id(a_path) if a_path is not None else {}
    media = MediaRefs(root, images, q_path)
    samples = []
    for i, q in enumerate(records):
        fields = _question_fields(q, q_path, i)
        if a_path is not None:
            qid = fields["question_id"]
            if qid not in by_id:
                raise DataError(
                    f"{a_path} has no annotation for question_id {qid} of {q_path}.",
                    hint="The questions and annotations files must come from the same split.",
                )
            _add_answers(fields, by_id[qid], a_path)
        samples.append(Sample(id=fields["question_id"], media=media(q), fields=fields))
    return samples


def _question_fields(question: Any, path: Path, index: int) -> dict[str, Any]:
    try:
        return {
            "question_id": question["question_id"],
            "question": question["question"],
            "image_id": question["image_id"],
        }
    except (KeyError, TypeError):  # the same, with an error that names the record and the field
        return {
            key: require(question, key, path, f"questions[{index}]") for key in ("question_id", "question", "image_id")
        }


def _annotations_by_id(path: Path) -> dict[Any, Any]:
    records = require_list(read_json(path), "annotations", path)
    try:
        return {annotation["question_id"]: annotation for annotation in records}
    except (KeyError, TypeError):
        return {require(a, "question_id", path, f"annotations[{i}]"): a for i, a in enumerate(records)}


def _add_answers(fields: dict[str, Any], annotation: Any, path: Path) -> None:
    """The answers (one string object per distinct text), their records' metadata and the official groups."""
    qid = fields["question_id"]
    try:
        records = annotation["answers"]
        fields["answers"] = list(map(intern, map(_ANSWER, records)))  # in C: ten per question, millions per split
    except (KeyError, TypeError):  # a missing field, or an answer that is not a string (the target check names it)
        records = require(annotation, "answers", path, f"the annotation of question_id {qid}")
        fields["answers"] = [require(r, "answer", path, f"an answer of question_id {qid}") for r in records]
    fields["answer_meta"] = answer_meta(records)
    # The official script's groups (perAnswerType, perQuestionType), where the release has them.
    for key in ("answer_type", "question_type"):
        if key in annotation:
            value = annotation[key]
            fields[key] = intern(value) if type(value) is str else value


def read_textvqa_json(root: Path, file: str, images: str) -> list[Sample]:
    path = root / file
    media = MediaRefs(root, images, path)
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
            # One string per annotator, all different records (OpenFlamingo's converted files number
            # them 1..10), so the openflamingo metric variant scores both layouts alike.
            fields["answer_meta"] = distinct_answers(len(item["answers"]))
        samples.append(Sample(id=qid, media=media(item), fields=fields))
    return samples


def read_vizwiz_json(root: Path, file: str, images: str) -> list[Sample]:
    path = root / file
    media = MediaRefs(root, images, path)
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
            fields["answer_meta"] = answer_meta(item["answers"])
        fields |= {key: item[key] for key in ("answer_type", "answerable") if key in item}
        samples.append(Sample(id=i, media=media(fields), fields=fields))
    return samples
