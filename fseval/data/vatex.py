"""VATEX's English captions (Wang et al. 2019, "VATEX: A Large-Scale, High-Quality Multilingual Dataset for
Video-and-Language Research"; files from eric-xw.github.io/vatex-website/download.html).

``vatex_training_v1.0.json`` (25,991 clips), ``vatex_validation_v1.0.json`` (3,000) and
``vatex_public_test_english_v1.1.json`` (6,000) are JSON lists of ``{"videoID", "enCap", "chCap"}``; the
public test has no ``chCap``, and the private test file no captions at all. ``enCap`` holds 10 English
captions (5 written for the clip, then 5 translations of its Chinese ones). A ``videoID`` names a 10-second
stretch of a YouTube video the way Kinetics names its clips: ``<YouTube id>_<start>_<end>``, the start and
end in seconds as 6-digit zero-padded integers (``nJ6KPT1uwe8_000047_000057``); the YouTube id itself may
contain ``_`` and ``-``.

Clips are files cut per ``videoID`` (``{video_id}.mp4``), or with ``whole_videos`` the downloaded YouTube
videos (``{youtube_id}.mp4``), sampled within the range the ``videoID`` names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import Sample, VideoSampling


def parse_video_id(video_id: Any, path: Path, where: str) -> tuple[str, int, int]:
    """``(youtube id, start, end)`` of a ``videoID``, or a DataError naming the file and the record."""
    parts = video_id.rsplit("_", 2) if isinstance(video_id, str) else []
    if len(parts) != 3 or not parts[0] or not (parts[1].isdigit() and parts[2].isdigit()):
        raise DataError(
            f"{path}: {where} has videoID {video_id!r}, not '<YouTube id>_<start>_<end>' (e.g. "
            "'nJ6KPT1uwe8_000047_000057').",
            hint="Is this VATEX's original caption file?",
        )
    return parts[0], int(parts[1]), int(parts[2])


def read_vatex(root: Path, file: str, videos: str, sampling: VideoSampling, whole_videos: bool) -> list[Sample]:
    """One sample per clip, in file order; the references are its ``enCap`` captions, the demo caption the first."""
    path = root / file
    media = MediaRefs(root, videos, path, sampling)
    samples = []
    for i, item in enumerate(require_list(read_json(path), None, path)):
        where = f"item {i}"
        video_id = require(item, "videoID", path, where)
        youtube_id, start, end = parse_video_id(video_id, path, where)
        captions = require(item, "enCap", path, where)
        if not isinstance(captions, list):
            raise DataError(f"{path}: {where} field 'enCap' should be a list of captions, not {captions!r}.")
        fields = {
            "image_id": video_id,  # the key of the caption results format, [{"image_id", "caption"}]
            "video_id": video_id,
            "youtube_id": youtube_id,
            "start": start,
            "end": end,
            "caption": captions[0].strip() if captions and isinstance(captions[0], str) else "",
            "references": captions,
        }
        span = (float(start), float(end)) if whole_videos else None
        samples.append(Sample(id=video_id, media=media(fields, span=span), fields=fields))
    return samples
