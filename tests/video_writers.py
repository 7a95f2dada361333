"""Tiny video datasets in the release formats of MSRVTT-QA, MSVD-QA and MSR-VTT, with clips made by PyAV.

Frame i of a clip has a grey background of level ``20 + 16 * i`` (so a decoded frame tells its index,
:func:`frame_index`) and a coloured square that moves right by 4 pixels a frame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

COLORS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (220, 220, 30), (30, 200, 200), (200, 30, 200)]
SIZE = (64, 48)


def write_clip(
    path: Path,
    frames: int = 6,
    fps: int = 10,
    times: Sequence[float] | None = None,
    color: int = 0,
    codec: str = "mpeg4",
) -> Path:
    """A clip of ``frames`` frames at ``fps``, or stamped at ``times`` seconds (a variable frame rate)."""
    times = list(times) if times is not None else [i / fps for i in range(frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            pixels = np.full((SIZE[1], SIZE[0], 3), 20 + 16 * i, np.uint8)
            pixels[:12, 4 * i : 4 * i + 12] = COLORS[color % len(COLORS)]
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_index(image: Image.Image) -> int:
    """Which frame of a :func:`write_clip` clip a decoded image is (read from its background)."""
    background = np.asarray(image.convert("L"))[20:, :].mean()
    return round((background - 20) / 16)


# (video_id, question, answer): two questions per clip, as the releases have several per clip.
TEST_QA = [
    (7010, "what is moving?", "square"),
    (7010, "what color is the square?", "red"),
    (7011, "what is this?", "a box"),
]
TEST_QA += [(7012, "how many squares are there?", "one"), (7013, "what is the square doing?", "moving")]
TRAIN_QA = [(i, f"what is in clip {i}?", f"thing{i}") for i in range(8)]


def _qa_items(rows: list[tuple[int, str, str]], first_id: int) -> list[dict[str, object]]:
    return [{"answer": a, "id": first_id + n, "question": q, "video_id": v} for n, (v, q, a) in enumerate(rows)]


def write_msrvtt_qa(root: Path, corrupt_video_id: int | None = None) -> Path:
    """``{train,val,test}_qa.json`` and ``videos/video<N>.mp4``; ``corrupt_video_id``'s clip is not a video."""
    for name, rows, first_id in (("train", TRAIN_QA, 0), ("val", TRAIN_QA[:2], 100), ("test", TEST_QA, 200)):
        (root / f"{name}_qa.json").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}_qa.json").write_text(json.dumps(_qa_items(rows, first_id)))
        for video_id in sorted({v for v, _, _ in rows}):
            path = root / "videos" / f"video{video_id}.mp4"
            if video_id == corrupt_video_id:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
            elif not path.exists():
                # Clips of different lengths and rates, some shorter than the 8 frames a task samples.
                write_clip(path, frames=4 + video_id % 9, fps=(10, 25, 30)[video_id % 3], color=video_id)
    return root


def write_msvd_qa(root: Path) -> Path:
    """``{train,val,test}_qa.json``, ``youtube_mapping.txt`` (``<clip> vid<N>``) and ``YouTubeClips/<clip>.avi``."""
    root.mkdir(parents=True, exist_ok=True)
    train = [(i + 1, q, a) for i, q, a in TRAIN_QA]
    test = [(v - 7000 + 10, q, a) for v, q, a in TEST_QA]
    names = {n: f"yt{n:03d}-_x{n}_{n * 3}_{n * 3 + 5}" for n in sorted({v for v, _, _ in train + test})}
    # The release's mapping file ends its lines with CRLF.
    (root / "youtube_mapping.txt").write_bytes("".join(f"{c} vid{n}\r\n" for n, c in names.items()).encode())
    for name, rows, first_id in (("train", train, 0), ("val", train[:2], 100), ("test", test, 200)):
        (root / f"{name}_qa.json").write_text(json.dumps(_qa_items(rows, first_id)))
    for n, clip in names.items():
        write_clip(root / "YouTubeClips" / f"{clip}.avi", frames=5 + n % 4, color=n)
    return root


CAPTIONS = ["a red square moves to the right", "a square slides across a grey screen", "something moves"]


def write_msrvtt_captions(root: Path) -> Path:
    """``train_val_videodatainfo.json`` (train + validate) and ``test_videodatainfo.json`` with their clips."""
    root.mkdir(parents=True, exist_ok=True)
    for name, ids in (("train_val", range(0, 6)), ("test", range(7010, 7013))):
        videos, sentences = [], []
        for video_id in ids:
            split = "test" if video_id >= 7010 else ("train" if video_id < 4 else "validate")
            videos.append({"category": 9, "url": "https://www.youtube.com/watch?v=x", "video_id": f"video{video_id}",
                           "start time": 1.0, "end time": 11.0, "split": split, "id": video_id})  # fmt: skip
            for k, caption in enumerate(CAPTIONS):
                sentences.append({"caption": f"{caption} {video_id}", "video_id": f"video{video_id}",
                                  "sen_id": video_id * 20 + k})  # fmt: skip
            write_clip(root / "videos" / f"video{video_id}.mp4", frames=6, color=video_id)
        info = {"contributor": "Microsoft MSM group", "data_created": "2016-04-14 14:30:20", "version": "1.0"}
        # Sentences are not grouped by clip in the release files.
        sentences.sort(key=lambda s: (s["sen_id"] % 20, s["sen_id"]))
        data = {"info": info, "videos": videos, "sentences": sentences}
        (root / f"{name}_videodatainfo.json").write_text(json.dumps(data))
    return root
