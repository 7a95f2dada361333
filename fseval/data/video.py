"""Loaders for video benchmarks' release files; clips are referenced here and decoded by ``fseval.media.video``.

- ``videoqa_json``: MSRVTT-QA and MSVD-QA as released with Xu et al. 2017 ("Video Question Answering
  via Gradually Refined Attention over Appearance and Motion"; github.com/xudejing/video-question-answering):
  ``{train,val,test}_qa.json``, each a list of ``{"question", "answer", "video_id", "id"}`` with one
  answer per question. MSRVTT-QA's ``video_id`` is the N of MSR-VTT's ``videoN.mp4``; MSVD-QA's is the
  N of ``vidN`` in ``youtube_mapping.txt``, whose lines map a YouTube clip name to it
  (``-4wsuPCjDBc_5_15 vid1``); the clip itself is ``YouTubeClips/<name>.avi`` in the MSVD release.
- ``videodatainfo_json``: MSR-VTT's own caption files (``train_val_videodatainfo.json``,
  ``test_videodatainfo.json``): ``videos[]`` with ``video_id`` (``"video7010"``) and ``split``
  (train / validate / test), ``sentences[]`` with ``video_id`` and ``caption`` (20 per clip).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json, read_text
from fseval.errors import DataError, require, require_list
from fseval.types import Sample, VideoSampling


def read_youtube_mapping(path: Path) -> dict[str, str]:
    """MSVD's ``youtube_mapping.txt``: ``vidN`` -> YouTube clip name (``<youtube id>_<start>_<end>``)."""
    mapping = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].startswith("vid"):
            raise DataError(
                f"{path}, line {number}: expected '<clip name> vid<N>', found {line.strip()!r}.",
                hint="This should be youtube_mapping.txt from the MSVD-QA release.",
            )
        mapping[parts[1]] = parts[0]
    return mapping


def read_videoqa_json(
    root: Path, file: str, videos: str, sampling: VideoSampling, mapping: str | None = None
) -> list[Sample]:
    """MSRVTT-QA / MSVD-QA; with ``mapping`` each record also gets ``video_name`` for the path template."""
    path = root / file
    names = read_youtube_mapping(root / mapping) if mapping else None
    media = MediaRefs(root, videos, path, sampling)
    samples = []
    for i, item in enumerate(require_list(read_json(path), None, path)):
        where = f"item {i}"
        qid = require(item, "id", path, where)
        video_id = require(item, "video_id", path, where)
        fields: dict[str, Any] = {
            "question_id": qid,
            "question": require(item, "question", path, where),
            "video_id": video_id,
        }
        if "answer" in item:
            fields["answer"] = item["answer"]
            # One answer per question; as a list too, for prompts and tools written for VQA's ``answers``.
            fields["answers"] = [item["answer"]]
        if names is not None:
            fields["video_name"] = names.get(f"vid{video_id}")
            if fields["video_name"] is None:
                assert mapping is not None
                raise DataError(
                    f"{path}: {where} has video_id {video_id}, but {root / mapping} has no line for vid{video_id}.",
                    hint="The QA files and the mapping file must come from the same MSVD-QA release.",
                )
        samples.append(Sample(id=qid, media=media(fields), fields=fields))
    return samples


def read_videodatainfo(root: Path, file: str, split: str, videos: str, sampling: VideoSampling) -> list[Sample]:
    """MSR-VTT clips of one split with their reference captions, in the file's order of videos."""
    path = root / file
    data = read_json(path)
    media = MediaRefs(root, videos, path, sampling)
    references: dict[str, list[str]] = {}
    for i, sentence in enumerate(require_list(data, "sentences", path)):
        video_id = require(sentence, "video_id", path, f"sentences[{i}]")
        references.setdefault(video_id, []).append(require(sentence, "caption", path, f"sentences[{i}]"))
    samples = []
    for i, video in enumerate(require_list(data, "videos", path)):
        if require(video, "split", path, f"videos[{i}]") != split:
            continue
        video_id = require(video, "video_id", path, f"videos[{i}]")
        captions = references.get(video_id, [])
        fields = {
            "image_id": video_id,  # the key of the caption results format, [{"image_id", "caption"}]
            "video_id": video_id,
            "caption": captions[0].strip() if captions else "",
            "references": captions,
        }
        samples.append(Sample(id=video_id, media=media(fields), fields=fields))
    return samples
