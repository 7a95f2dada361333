"""The COCO caption evaluation of VATEX and YouCook2, reading each benchmark's own results file too.

Both are scored as COCO is (``caption`` in ``captioning.py``: pycocoevalcap's PTB tokenisation and CIDEr-D,
each clip or step its own "image"); the numbers equal ``COCOEvalCap.evaluate()`` without SPICE on the same
captions (``scripts/make_video_caption_fixture.py``). The metrics here are that one registered under two
more names whose results format (``fseval score``) also takes the file people hold from other code:

- ``vatex_caption``: a JSON object mapping each ``videoID`` to its caption, besides COCO's
  ``[{"image_id": videoID, "caption"}]``.
- ``youcook2_caption``: the submission file of densevid_eval (github.com/ranjaykrishna/densevid_eval, the
  dense-captioning evaluation of ActivityNet Captions, also run on YouCook2):
  ``{"results": {<YouTube id>: [{"sentence", "timestamp": [start, end]}]}}``, each timestamp the annotated
  segment it captions; besides ``[{"image_id": "<YouTube id>_<step id>", "caption"}]``. densevid_eval scores
  each sentence against the annotated sentences of the segments it overlaps by more than a tIoU threshold,
  all sentences together: on the annotated segments of steps that do not overlap, that is this score. Its
  fork LuoweiZhou/densevid_eval_spice, which lmms-eval's YouCook2 task follows, averages CIDEr per video
  instead, which gives other numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fseval.errors import DataError, require
from fseval.metrics import captioning, formats  # noqa: F401  (captioning registers 'caption')
from fseval.metrics.registry import METRICS
from fseval.types import Sample


def read_vatex_results(path: Path, samples: Sequence[Sample]) -> dict[Any, Any] | None:
    """``{videoID: caption}`` (None for a JSON list: the standard format)."""
    data = formats.read_json_file(path)
    if not isinstance(data, dict):
        return None
    for video_id, caption in data.items():
        if not isinstance(caption, str):
            raise DataError(f"{path}: the caption of {video_id!r} should be a string, not {caption!r}.")
    return dict(data)


def read_densevid_results(path: Path, samples: Sequence[Sample]) -> dict[Any, Any] | None:
    """densevid_eval's ``{"results": {video: [{"sentence", "timestamp"}]}}`` by step id (None without ``results``)."""
    data = formats.read_json_file(path)
    if not isinstance(data, dict) or "results" not in data:
        return None
    results = data["results"]
    if not isinstance(results, dict):
        raise DataError(f"{path}: field 'results' should map YouTube ids to lists of captioned segments.")
    steps = {(s.fields["youtube_id"], *map(float, s.fields["segment"])): s.id for s in samples}
    predictions: dict[Any, str] = {}
    for video, entries in results.items():
        if not isinstance(entries, list):
            raise DataError(f"{path}: results[{video!r}] should be a list of {{'sentence', 'timestamp'}}.")
        for i, entry in enumerate(entries):
            step, sentence = _captioned_step(entry, video, steps, path, f"results[{video!r}][{i}]")
            if step in predictions:
                raise DataError(f"{path}: results[{video!r}] captions the segment of step {step!r} twice.")
            predictions[step] = sentence
    return predictions


def _captioned_step(
    entry: Any, video: str, steps: Mapping[tuple[Any, ...], Any], path: Path, where: str
) -> tuple[Any, str]:
    sentence = require(entry, "sentence", path, where)
    timestamp = require(entry, "timestamp", path, where)
    if not isinstance(sentence, str):
        raise DataError(f"{path}: {where} field 'sentence' should be a string.")
    if not (isinstance(timestamp, list) and len(timestamp) == 2 and all(map(_number, timestamp))):
        raise DataError(f"{path}: {where} field 'timestamp' should be [start, end] in seconds, not {timestamp!r}.")
    step = steps.get((video, float(timestamp[0]), float(timestamp[1])))
    if step is None:
        segments = [list(key[1:]) for key in steps if key[0] == video]
        known = f"its annotated segments: {segments}" if segments else "that video is not in the evaluation split"
        raise DataError(
            f"{path}: {where} has timestamp {timestamp}, which is no annotated step of {video!r} ({known}).",
            hint="Caption the annotated segments themselves (YouCook2 captioning with ground-truth segments).",
        )
    return step, sentence


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


VATEX_RESULTS = dataclasses.replace(
    formats.CAPTIONS,
    shape='[{"image_id": videoID, "caption"}]',
    native=formats.NativeFormat("{videoID: caption}", read_vatex_results),
)
YOUCOOK2_RESULTS = dataclasses.replace(
    formats.CAPTIONS,
    shape='[{"image_id": "<YouTube id>_<step id>", "caption"}]',
    native=formats.NativeFormat(
        'densevid_eval\'s {"results": {<YouTube id>: [{"sentence", "timestamp": [start, end]}]}}',
        read_densevid_results,
    ),
)


def _register_alias(name: str, result_format: formats.ResultFormat, description: str) -> None:
    """The ``caption`` metric (its scorer, variants, checks) under ``name``, reading ``result_format``."""
    caption = METRICS["caption"]
    METRICS[name] = dataclasses.replace(caption, name=name, result_format=result_format, description=description)


_register_alias(
    "vatex_caption",
    VATEX_RESULTS,
    "VATEX captions scored as COCO (pycocoevalcap): CIDEr-D x100; BLEU, METEOR, ROUGE-L in extra.",
)
_register_alias(
    "youcook2_caption",
    YOUCOOK2_RESULTS,
    "YouCook2 step captions scored as COCO (pycocoevalcap), one sample per step: CIDEr-D x100; BLEU, METEOR, "
    "ROUGE-L in extra.",
)
