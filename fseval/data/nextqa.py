"""NExT-QA open-ended (NExT-OE, Xiao et al., CVPR 2021; github.com/doc-doc/NExT-OE) as released.

``train.csv``, ``val.csv`` and ``test.csv`` have the columns ``video, frame_count, width, height, question,
answer, qid, type`` (read by name: order and extra columns do not matter; ``video, question, answer, qid, type``
are required). A question is named by its video and qid, unique in a file: the sample id is ``"<video>_<qid>"``,
the keys NExT-OE's results file ``{video: {qid: answer}}`` uses. ``type`` is one of CW, CH (causal), TN, TP, TC
(temporal), DB, DC, DL, DO (descriptive); ``category`` is its first letter, the group ``eval_oe.py`` averages.

``add_reference_answer_{val,test}.json`` (``{video: {qid: answer}}``) holds a second answer for the questions of
the videos it lists; ``eval_oe.py`` looks every question of a listed video up in it, so a listed video missing
one of its questions is an error here too. The clips are NExT-QA's videos, taken from VidOR: NExTVideo holds
``<folder>/<video>.mp4`` and ``map_vid_vidorID.json`` maps each video id to ``<folder>/<video>``, the
``{vidor_path}`` of the video template. A video the map lacks fails its samples (the rest are scored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_csv_rows, read_json
from fseval.errors import DataError
from fseval.types import MediaRef, Sample, VideoSampling

COLUMNS = ("video", "question", "answer", "qid", "type")


def _string_map(path: Path, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DataError(f"{path} should be a JSON object mapping {what}, found {type(data).__name__}.")
    return data


def read_video_map(path: Path) -> dict[str, str]:
    """``map_vid_vidorID.json``: video id -> VidOR path ``<folder>/<video>``."""
    mapping = _string_map(path, read_json(path), "video ids to VidOR paths")
    bad = [key for key, value in mapping.items() if not isinstance(value, str)]
    if bad:
        raise DataError(f"{path}: video {bad[0]!r} should map to a path such as '0000/2440175990'.")
    return mapping


def read_references(path: Path) -> dict[str, dict[str, str]]:
    """``add_reference_answer_*.json``: video -> qid -> the second answer."""
    references = _string_map(path, read_json(path), "videos to {qid: answer}")
    for video, answers in references.items():
        if not isinstance(answers, dict) or not all(isinstance(a, str) for a in answers.values()):
            raise DataError(f"{path}: video {video!r} should map question ids to answer strings.")
    return references


def read_nextoe_csv(
    root: Path, file: str, videos: str, sampling: VideoSampling, video_map: str, references: str | None
) -> list[Sample]:
    """One sample per question; ``answers`` holds the answer and, where the references list it, the second one."""
    path = root / file
    vidor = read_video_map(root / video_map)
    second = read_references(root / references) if references else {}
    media = MediaRefs(root, videos, path, sampling)
    samples, seen = [], set()
    for line, row in read_csv_rows(path, COLUMNS):
        video, qid = row["video"], row["qid"]
        sample_id = f"{video}_{qid}"
        if sample_id in seen:
            raise DataError(f"{path}, line {line}: video {video} has question {qid} twice.")
        seen.add(sample_id)
        answers = [row["answer"]]
        if video in second:
            if qid not in second[video]:
                raise DataError(f"{root / str(references)}: video {video} has no answer for question {qid} ({path}).")
            answers.append(second[video][qid])
        fields: dict[str, Any] = {
            "video": video,
            "qid": qid,
            "question": row["question"],
            "answer": row["answer"],
            "answers": answers,
            "type": row["type"],
            "category": row["type"][:1],  # C(ausal), T(emporal), D(escriptive): eval_oe.py's groups
        }
        if video in vidor:
            fields["vidor_path"] = vidor[video]
            refs = media(fields)
        else:  # recorded, not raised: that question fails, the others are scored
            refs = (MediaRef(key=f"{video_map}:{video}", error=f"{root / video_map}: video {video} is not listed."),)
        samples.append(Sample(id=sample_id, media=refs, fields=fields))
    return samples
