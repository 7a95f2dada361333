"""YouCook2's segment captions (Zhou et al. 2018, "Towards Automatic Learning of Procedures from Web
Instructional Videos"; files from youcook2.eecs.umich.edu/download).

``youcookii_annotations_trainval.json`` holds ``{"database": {<YouTube id>: {"subset", "recipe_type",
"duration", "video_url", "annotations": [{"id", "segment": [start, end], "sentence"}]}}}``: 1,333 training
and 457 validation videos (``subset`` ``training`` / ``validation``), each cut into recipe steps, the
``segment`` in whole seconds of the video, one ``sentence`` per step. Each step is one sample, its id
``<YouTube id>_<step id>``, its clip the segment's range of the whole video.

The release's download script (in its ``scripts/`` folder) saves the videos as
``raw_videos/<subset>/<recipe_type>/<YouTube id>.<ext>``, the extension whatever YouTube served (mp4, mkv
or webm): ``{ext}`` in the video template is the first of ``extensions`` whose file exists (the first
extension when none does, so a missing video is named with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require
from fseval.types import Sample, VideoSampling


def read_youcook2(
    root: Path, file: str, subset: str, videos: str, sampling: VideoSampling, extensions: Sequence[str]
) -> list[Sample]:
    """The steps of the videos in ``subset``, in file order, each with its one reference sentence."""
    path = root / file
    database = require(read_json(path), "database", path, "the top level")
    if not isinstance(database, dict):
        raise DataError(f"{path}: field 'database' should map YouTube ids to videos.")
    media = MediaRefs(root, videos, path, sampling)
    samples = []
    for youtube_id, video in database.items():
        where = f"database[{youtube_id!r}]"
        if require(video, "subset", path, where) != subset:
            continue
        record = {"youtube_id": youtube_id, "subset": subset, "recipe_type": require(video, "recipe_type", path, where)}
        record["ext"] = _extension(root, videos, record, extensions)
        annotations = require(video, "annotations", path, where)
        if not isinstance(annotations, list):
            raise DataError(f"{path}: {where} field 'annotations' should be a list of steps.")
        for n, step in enumerate(annotations):
            fields = _step(step, record, path, f"{where}['annotations'][{n}]")
            start, end = fields["segment"]
            samples.append(Sample(id=fields["image_id"], media=media(record, span=(start, end)), fields=fields))
    return samples


def _step(step: Any, record: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
    segment = require(step, "segment", path, where)
    if not (isinstance(segment, list) and len(segment) == 2 and all(_number(t) for t in segment)):
        raise DataError(f"{path}: {where} field 'segment' should be [start, end] in seconds, not {segment!r}.")
    sentence = require(step, "sentence", path, where)
    step_id = f"{record['youtube_id']}_{require(step, 'id', path, where)}"
    return {
        "image_id": step_id,  # the key of the caption results format, [{"image_id", "caption"}]
        "video_id": record["youtube_id"],
        **record,
        "segment": [float(segment[0]), float(segment[1])],
        "caption": sentence.strip() if isinstance(sentence, str) else "",
        "references": [sentence],
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _extension(root: Path, videos: str, record: dict[str, Any], extensions: Sequence[str]) -> str:
    """The first extension whose video exists (the first one when none does or the template has no ``{ext}``)."""
    if "{ext}" in videos:
        for ext in extensions:
            try:
                if (root / videos.format_map({**record, "ext": ext})).is_file():
                    return ext
            except (KeyError, ValueError, IndexError):
                break  # a bad template: MediaRefs records the error for the sample
    return extensions[0] if extensions else ""
