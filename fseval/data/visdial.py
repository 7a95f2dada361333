"""VisDial v1.0 (visualdialog.org): one sample per round of each image's dialog.

``visdial_1.0_{train,val}.json`` holds ``{"split", "data": {"questions", "answers", "dialogs"}}``;
questions and answers are lists of strings, and each dialog is ``{"image_id", "caption", "dialog"}``
whose rounds are ``{"question", "answer", "answer_options", "gt_index"}``: the first three are
indices into those lists (100 options per round), ``gt_index`` the position of the answer among the
options. ``visdial_1.0_val_dense_annotations.json`` is ``[{"image_id", "round_id", "gt_relevance"}]``:
for one round of each image (``round_id`` from 1), the relevance of each of its 100 options.

A sample's id is ``"<image_id>_<round>"`` (round from 1). Its fields: ``image_id``, ``round_id``,
``caption``, ``question``, ``answer`` (the ground truth's text), ``history`` (the earlier rounds, each
written with the layout's history template, in order), ``options`` (the round's option texts, in
option order), ``gt_index`` and ``gt_relevance`` (None for rounds without a dense annotation).
Images are found by ``image_id`` through one or more path templates: val's are
``VisualDialog_val2018/VisualDialog_val2018_{image_id:012d}.jpg``; train's are COCO 2014's, in
``train2014/COCO_train2014_{image_id:012d}.jpg`` or ``val2014/COCO_val2014_{image_id:012d}.jpg``
(the starter code's feature extractor reads both folders for train), so the first template whose
file exists is taken.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, SpecError, require, require_list
from fseval.types import MediaRef, Sample

Relevance = dict[tuple[int, int], list[float]]


@dataclass(frozen=True)
class Texts:
    """The release's string tables and the file they come from, for errors that name it."""

    path: Path
    questions: list[Any]
    answers: list[Any]

    def lookup(self, table: str, index: Any, where: str) -> str:
        values = self.questions if table == "questions" else self.answers
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(values):
            raise DataError(f"{self.path}: {where} refers to {table}[{index!r}], which data.{table} lacks.")
        text = values[index]
        if not isinstance(text, str):
            raise DataError(f"{self.path}: data.{table}[{index}] should be a string, found {type(text).__name__}.")
        return text


@dataclass(frozen=True)
class Options:
    """What a reader makes of each round: its options (eval) or not (demos), which rounds, the history format."""

    rounds: frozenset[int] | None
    with_options: bool
    history: str


def read_visdial(
    root: Path,
    file: str,
    dense: str | None,
    images: Sequence[str],
    rounds: Sequence[int] | None = None,
    with_options: bool = True,
    history: str = "",
) -> list[Sample]:
    """Every round (or only ``rounds``) of every dialog of ``file``, in the file's order."""
    path = root / file
    data = require(read_json(path), "data", path, "the top level")
    texts = Texts(path, require_list(data, "questions", path), require_list(data, "answers", path))
    relevance = read_dense(root / dense) if dense else {}
    find = ImageFinder(root, images, path)
    options = Options(None if rounds is None else frozenset(rounds), with_options, history)
    samples: list[Sample] = []
    for n, dialog in enumerate(require_list(data, "dialogs", path)):
        samples += dialog_samples(dialog, f"data.dialogs[{n}]", texts, relevance, find, options)
    return samples


def dialog_samples(
    dialog: Any, where: str, texts: Texts, relevance: Relevance, find: ImageFinder, options: Options
) -> list[Sample]:
    image_id = require(dialog, "image_id", texts.path, where)
    caption = require(dialog, "caption", texts.path, where)
    media = find(image_id)
    history: list[str] = []
    samples = []
    for r, turn in enumerate(require_list(dialog, "dialog", texts.path), start=1):
        at = f"{where} (image_id {image_id}) round {r}"
        question = texts.lookup("questions", require(turn, "question", texts.path, at), at)
        answer = texts.lookup("answers", turn["answer"], at) if isinstance(turn, Mapping) and "answer" in turn else None
        if options.rounds is None or r in options.rounds:
            fields = {
                "id": f"{image_id}_{r}",
                "image_id": image_id,
                "round_id": r,
                "caption": caption,
                "question": question,
                "history": "".join(history),
                "gt_relevance": relevance.get((image_id, r)),
            }
            if answer is not None:
                fields["answer"] = answer
            if options.with_options:
                fields.update(round_options(turn, at, texts))
            samples.append(Sample(id=fields["id"], media=media, fields=fields))
        if answer is not None:
            history.append(history_line(options.history, question, answer))
    return samples


def history_line(template: str, question: str, answer: str) -> str:
    """One earlier round as the layout's ``history`` template writes it."""
    try:
        return template.format(question=question, answer=answer)
    except (KeyError, ValueError, IndexError) as e:
        raise SpecError(
            f"The VisDial layout's history template {template!r} cannot be filled ({e!r}).",
            hint="It may use {question} and {answer}; write a literal brace as {{ or }}.",
        ) from None


def round_options(turn: Mapping[str, Any], where: str, texts: Texts) -> dict[str, Any]:
    """A round's option texts and the position of its answer among them."""
    indices = require_list(turn, "answer_options", texts.path) if "answer_options" in turn else None
    if indices is None:
        raise DataError(f"{texts.path}: {where} has no field 'answer_options' (fields: {', '.join(sorted(turn))}).")
    found = [texts.lookup("answers", index, f"{where} answer_options") for index in indices]
    gt_index = require(turn, "gt_index", texts.path, where)
    if not isinstance(gt_index, int) or isinstance(gt_index, bool) or not 0 <= gt_index < len(found):
        raise DataError(
            f"{texts.path}: {where} gt_index {gt_index!r} is not a position among its {len(found)} options."
        )
    return {"options": found, "gt_index": gt_index}


def read_dense(path: Path) -> Relevance:
    """``(image_id, round_id) -> gt_relevance`` of the dense annotations file."""
    found: Relevance = {}
    for n, item in enumerate(require_list(read_json(path), None, path)):
        where = f"item {n}"
        key = (require(item, "image_id", path, where), require(item, "round_id", path, where))
        relevance = require(item, "gt_relevance", path, where)
        if not isinstance(relevance, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in relevance
        ):
            raise DataError(f"{path}: {where} field 'gt_relevance' should be a list of numbers.")
        found[key] = [float(v) for v in relevance]
    return found


class ImageFinder:
    """An image's reference by ``image_id``: the first template whose file exists (the first if none does)."""

    def __init__(self, root: Path, templates: Sequence[str], source: Path) -> None:
        self.root = root
        self.refs = [(template, MediaRefs(root, template, source)) for template in templates]

    def __call__(self, image_id: Any) -> tuple[MediaRef, ...]:
        record = {"image_id": image_id}
        if len(self.refs) > 1:
            for template, refs in self.refs:
                try:
                    relative = template.format_map(record)
                except (KeyError, ValueError, IndexError):
                    continue
                if os.path.isfile(self.root / relative):
                    return refs(record)
        return self.refs[0][1](record)
