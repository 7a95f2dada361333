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


# iVQA: (YouTube video_id, start, end, question, the 5 annotators' answers), in the release's CSV columns.
IVQA_TEST = [
    ("-3fE_x0qZ2k", 0, 2, "what is the person holding?", ["knife", "knife", "knife", "spoon", "knife"]),
    ("-3fE_x0qZ2k", 1, 3, "what is being cut?", ["onion", "onions", "onion", "garlic", "shallot"]),
    ("Zb7_Q9mH1aE", 0.5, 2.5, "where is this?", ["kitchen", "garden", "shed", "garage", "yard"]),
    ("Zb7_Q9mH1aE", 2, 3.5, "what color is the square?", ["red", "red", "", "Red", "red"]),
]
IVQA_TRAIN = [
    (f"trainvid{i:03d}", 0, 2, f"what happens in clip {i}?", [f"thing{i}"] * 3 + ["other", ""]) for i in range(8)
]
IVQA_COLUMNS = ["video_id", "start", "end", "question", "answer1", "answer2", "answer3", "answer4", "answer5", "type"]


def write_ivqa(root: Path, past_end: bool = False) -> Path:
    """``{train,val,test}.csv`` and ``videos/<video_id>.mp4`` (4 s each); ``past_end`` adds a test row ending at 9 s."""
    import csv

    test = IVQA_TEST + ([("Zb7_Q9mH1aE", 3, 9, "what happens at the end?", ["nothing"] * 5)] if past_end else [])
    for name, rows in (("train", IVQA_TRAIN), ("val", IVQA_TRAIN[:2]), ("test", test)):
        root.mkdir(parents=True, exist_ok=True)
        with (root / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(IVQA_COLUMNS)
            writer.writerows(
                [video_id, start, end, question, *answers, 0] for video_id, start, end, question, answers in rows
            )
        for n, video_id in enumerate(sorted({row[0] for row in rows})):
            if not (root / "videos" / f"{video_id}.mp4").exists():
                write_clip(root / "videos" / f"{video_id}.mp4", frames=12, fps=3, color=n)
    return root


# STAR: (question_id, Charades video_id, start, end, question, the 4 choices, index of the right one).
STAR_VAL = [
    ("Interaction_T1_13", "6H78U", 0.4, 2.8, "Which object was tidied up by the person?",
     ["The closet/cabinet.", "The blanket.", "The clothes.", "The table."], 2),
    ("Interaction_T2_40", "6H78U", 1.0, 3.6, "What did the person do with the blanket?",
     ["Took.", "Put down.", "Tidied up.", "Threw."], 0),
    ("Sequence_T1_7", "YSKX3", 0.0, 3.0, "Which object did the person open after they held the book?",
     ["The door.", "The box.", "The window.", "The refrigerator."], 3),
    ("Prediction_T1_9", "YSKX3", 0.5, 2.0, "What will the person do next?",
     ["Sit on the sofa.", "Open the door.", "Take the cup.", "Hold the phone."], 1),
    ("Feasibility_T4_2", "0KZ7G", 0.2, 3.8, "What is the person able to do after taking the dish?",
     ["Put down the dish.", "Open the laptop.", "Wash the table.", "Eat the sandwich."], 0),
]  # fmt: skip
STAR_TRAIN = [
    (f"{kind}_T1_{100 + i}", f"TR{i:02d}A", 0.5, 3.0, f"What did the person do in scene {i}?",
     [f"Action {i}{c}." for c in "abcd"], i % 4)
    for i, kind in enumerate(["Interaction", "Sequence", "Prediction", "Feasibility"] * 2)
]  # fmt: skip


def _star_items(
    rows: list[tuple[str, str, float, float, str, list[str], int]], answers: bool
) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for question_id, video_id, start, end, question, choices, right in rows:
        item = {"question_id": question_id, "question": question, "video_id": video_id, "start": start, "end": end,
                "answer": choices[right], "question_program": [{"function": "Situations", "value_input": []}],
                "choices": [{"choice_id": i, "choice": c, "choice_program": []} for i, c in enumerate(choices)],
                "situations": {}}  # fmt: skip
        if not answers:  # the test file withholds the answers
            del item["answer"]
        items.append(item)
    return items


def write_star(root: Path) -> Path:
    """``STAR_{train,val,test}.json`` and Charades' ``Charades_v1_480/<video_id>.mp4`` (4 s each)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", STAR_TRAIN), ("val", STAR_VAL), ("test", STAR_VAL)):
        (root / f"STAR_{name}.json").write_text(json.dumps(_star_items(rows, answers=name != "test")))
        for n, video_id in enumerate(sorted({row[1] for row in rows})):
            if not (root / "Charades_v1_480" / f"{video_id}.mp4").exists():
                write_clip(root / "Charades_v1_480" / f"{video_id}.mp4", frames=12, fps=3, color=n)
    return root


# VATEX: videoID -> its first English caption; clips as <videoID>.mp4 or, whole, as <YouTube id>.mp4 (15 s, 1 FPS).
VATEX_SPLITS = {
    "training": ["trainvid_0-a_000001_000011", "trainvid_1-b_000002_000012", "trainvid_2-c_000003_000013",
                 "trainvid_3-d_000000_000010", "trainvid_4-e_000004_000014", "trainvid_5-f_000001_000011"],
    "validation": ["valvid_0_000000_000010", "valvid_1_000002_000012"],
    "public_test": ["nJ6KPT1uwe8_000002_000012", "-0jJ7Zb_Gm8A_000004_000014", "Ptf_2VRj-V0_000000_000010"],
}  # fmt: skip
VATEX_FILES = {"training": "vatex_training_v1.0.json", "validation": "vatex_validation_v1.0.json",
               "public_test": "vatex_public_test_english_v1.1.json"}  # fmt: skip


def write_vatex(root: Path, whole_videos: bool = False) -> Path:
    """VATEX's three caption files (10 English captions a clip; no ``chCap`` in the public test) and their clips.

    Clips are ``videos/<videoID>.mp4`` (6 frames at 10 FPS), or with ``whole_videos`` the YouTube videos
    ``videos/<YouTube id>.mp4``: 15 frames 1 s apart, so frame i of a video is at i seconds.
    """
    root.mkdir(parents=True, exist_ok=True)
    for n, (split, ids) in enumerate(VATEX_SPLITS.items()):
        items: list[dict[str, object]] = []
        for k, video_id in enumerate(ids):
            item: dict[str, object] = {"videoID": video_id, "enCap": [f"{CAPTIONS[j % 3]} {k}" for j in range(10)]}
            if split != "public_test":
                item["chCap"] = ["一个方块在移动"] * 10
            items.append(item)
            youtube_id = video_id.rsplit("_", 2)[0]
            if whole_videos:
                write_clip(root / "videos" / f"{youtube_id}.mp4", frames=15, fps=1, color=n + k)
            else:
                write_clip(root / "videos" / f"{video_id}.mp4", frames=6, fps=10, color=n + k)
        (root / VATEX_FILES[split]).write_text(json.dumps(items, ensure_ascii=False))
    return root


# YouCook2: (subset, recipe type, YouTube id, extension, steps as (id, start, end, sentence)); videos 15 s at 1 FPS.
YOUCOOK2_VIDEOS = [
    ("training", "113", "GLd3aX16zBg", "mp4", [(0, 1, 4, "spread margarine on bread"), (1, 5, 9, "add cheese")]),
    ("training", "113", "trainvid-_1", "mkv", [(0, 0, 3, "heat a pan"), (1, 3, 7, "fry the bread")]),
    ("training", "201", "trainvid-_2", "webm", [(0, 2, 6, "cut the chicken"), (1, 7, 12, "fry the chicken")]),
    ("validation", "113", "xHr8X2Wpmno", "mkv", [(0, 2, 5, "boil water"), (1, 6, 10, "add the noodles"),
                                                  (2, 10, 14, "drain the noodles")]),
    ("validation", "201", "V53X_mPeyjIU", "mp4", [(0, 0, 4, "season the chicken"), (3, 8, 13, "grill the chicken")]),
]  # fmt: skip


def write_youcook2(root: Path) -> Path:
    """``youcookii_annotations_trainval.json`` and ``raw_videos/<subset>/<recipe_type>/<id>.<mp4|mkv|webm>``.

    Each video is 15 frames 1 s apart (frame i at i seconds), so a step's frames tell which seconds were sampled.
    """
    database = {}
    for n, (subset, recipe, youtube_id, ext, steps) in enumerate(YOUCOOK2_VIDEOS):
        annotations = [{"segment": [start, end], "id": i, "sentence": s} for i, start, end, s in steps]
        url = f"https://www.youtube.com/watch?v={youtube_id}"
        database[youtube_id] = {"duration": 15.0, "subset": subset, "recipe_type": recipe,
                                "annotations": annotations, "video_url": url}  # fmt: skip
        path = root / "raw_videos" / subset / recipe / f"{youtube_id}.{ext}"
        write_clip(path, frames=15, fps=1, color=n, codec="libvpx" if ext == "webm" else "mpeg4")
    (root / "youcookii_annotations_trainval.json").write_text(json.dumps({"database": database}))
    return root


# RareAct: classes in class_id order (sharing verbs and nouns, for hard negatives); YouTube-style video ids with
# their frame counts at 2 FPS (6, 5 and 4 s); lines (id, video_id, start, end, class_id, annotation).
RAREACT_CLASSES = [("cut", "laptop"), ("peel", "banana"), ("cut", "banana"), ("peel", "laptop")]
RAREACT_VIDEOS = {"aB3-x_9QzKw": 12, "Zz0_yY1-wVu": 10, "Qq7rT2_kLm0": 8}
RAREACT_LINES = [
    (0, "aB3-x_9QzKw", 0, 2, 0, 1), (1, "aB3-x_9QzKw", 2, 4, 0, 0), (2, "Zz0_yY1-wVu", 0, 3, 1, 1),
    (3, "Zz0_yY1-wVu", 0, 3, 2, 3),  # the clip of line 2, annotated for another class
    (4, "Qq7rT2_kLm0", 1, 3, 2, 1), (5, "Qq7rT2_kLm0", 2, 4, 3, 2), (6, "aB3-x_9QzKw", 4, 6, 3, 4),
    (7, "Zz0_yY1-wVu", 8, 10, 1, 0),  # past the end of its 5 s video: this sample fails
]  # fmt: skip
RAREACT_HEADER = ["id", "video_id", "start", "end", "class_id", "verb", "noun", "annotation"]


def write_rareact(root: Path, drop_column: str | None = None) -> Path:
    """``rareact.csv`` (the release's header, one line per (clip, class)) and ``videos/<video_id>.mp4``."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [[i, video, start, end, c, *RAREACT_CLASSES[c], a] for i, video, start, end, c, a in RAREACT_LINES]
    keep = [k for k, name in enumerate(RAREACT_HEADER) if name != drop_column]
    text = "".join(",".join(str(row[k]) for k in keep) + "\n" for row in [RAREACT_HEADER, *rows])
    (root / "rareact.csv").write_text(text)
    for n, (video_id, frames) in enumerate(RAREACT_VIDEOS.items()):
        write_clip(root / "videos" / f"{video_id}.mp4", frames=frames, fps=2, color=n)
    return root


# NExT-OE: (video, question, answer, qid, type) per split; videos are VidOR ids mapped to <folder>/<video>.
NEXTQA_ROWS = {
    "train": [
        ("4010069381", "what did the boy do after he fell", "stand up", 0, "TN"),
        ("4010069381", "why is the boy running", "chasing the dog", 1, "CW"),
        ("5333075105", "how many dogs are there", "two", 0, "DC"),
        ("5333075105", "where is this", "park", 1, "DL"),
        ("5333075105", "is the dog happy", "yes", 2, "DB"),
    ],
    "test": [
        ("2440175990", "why did the man raise his hand", "to wave at the camera", 0, "CW"),
        ("2440175990", "how many people are there", "three", 1, "DC"),
        ("2440175990", "what did the lady do before she sat", "walk in", 2, "TP"),
        ("6213049384", "is the baby crying", "no", 0, "DB"),
        ("6213049384", "where are they", "in the kitchen", 1, "DL"),
    ],
}
NEXTQA_MAP = {"4010069381": "0012/4010069381", "5333075105": "1024/5333075105", "2440175990": "0000/2440175990",
              "6213049384": "0012/6213049384"}  # fmt: skip
NEXTQA_HEADER = ["video", "frame_count", "width", "height", "question", "answer", "qid", "type"]


def write_nextqa(root: Path, drop_column: str | None = None) -> Path:
    """NExT-OE's ``train.csv``, ``test.csv``, ``add_reference_answer_test.json``, NExT-QA's ``map_vid_vidorID.json``
    and ``NExTVideo/<folder>/<video>.mp4``."""
    root.mkdir(parents=True, exist_ok=True)
    keep = [k for k, name in enumerate(NEXTQA_HEADER) if name != drop_column]
    for split, rows in NEXTQA_ROWS.items():
        lines = [NEXTQA_HEADER] + [[v, 60, 320, 240, q, a, qid, t] for v, q, a, qid, t in rows]
        (root / f"{split}.csv").write_text("".join(",".join(str(row[k]) for k in keep) + "\n" for row in lines))
    references = {"2440175990": {"0": "to say hello", "1": "3", "2": "walk into the room"}}
    (root / "add_reference_answer_test.json").write_text(json.dumps(references))
    (root / "map_vid_vidorID.json").write_text(json.dumps(NEXTQA_MAP))
    for n, path in enumerate(NEXTQA_MAP.values()):
        write_clip(root / "NExTVideo" / f"{path}.mp4", frames=6, fps=2, color=n)
    return root
