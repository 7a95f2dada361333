"""STAR (Wu et al., "STAR: A Benchmark for Situated Reasoning in Real-World Videos", NeurIPS 2021) as released.

``STAR_{train,val,test}.json`` (github.com/csbobby/STAR_Benchmark) are lists of questions, each with
``question_id`` (``<type>_<template>_<n>``, e.g. ``Interaction_T1_13``), ``question``, ``video_id`` (a Charades
video), ``start`` and ``end`` (seconds), ``choices`` (four ``{"choice_id", "choice"}``, ``choice_id`` the
position) and, except in the test file, ``answer``: the text of the right choice (the release's own
program executor and its challenge split questions by type with ``question_id.split("_")[0]`` and mark a
choice right when its text equals ``answer``). The rest (situation graphs, programs) is not read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import Sample, VideoSampling

QUESTION_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def _seconds(item: Any, key: str, path: Path, where: str) -> float:
    value = require(item, key, path, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{path}: {where} field {key!r} should be a time in seconds, found {value!r}.")
    return float(value)


def _choices(item: Any, path: Path, where: str) -> list[str]:
    choices = require(item, "choices", path, where)
    if not isinstance(choices, list) or not choices:
        raise DataError(f"{path}: {where} field 'choices' should be a non-empty list, found {choices!r}.")
    texts = [require(choice, "choice", path, f"{where}, choices[{i}]") for i, choice in enumerate(choices)]
    if not all(isinstance(text, str) for text in texts):
        raise DataError(f"{path}: {where}: every choice's 'choice' should be a string.")
    return texts


def read_star_json(root: Path, file: str, videos: str, sampling: VideoSampling) -> list[Sample]:
    """One sample per question; its clip is the ``start``-``end`` segment of the Charades video."""
    path = root / file
    media = MediaRefs(root, videos, path, sampling)
    samples = []
    for i, item in enumerate(require_list(read_json(path), None, path)):
        where = f"item {i}"
        question_id = require(item, "question_id", path, where)
        start, end = _seconds(item, "start", path, where), _seconds(item, "end", path, where)
        fields: dict[str, Any] = {
            "question_id": question_id,
            "question_type": str(question_id).split("_")[0],
            "question": require(item, "question", path, where),
            "video_id": require(item, "video_id", path, where),
            "start": start,
            "end": end,
            "choices": _choices(item, path, where),
        }
        if "answer" in item:
            fields["answer"] = fields["label"] = item["answer"]
            fields["answers"] = [item["answer"]]  # as VQA records spell it, for tools written for those
        samples.append(Sample(id=question_id, media=media(fields, span=(start, end)), fields=fields))
    return samples
