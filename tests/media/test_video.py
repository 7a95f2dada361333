"""Video clips: frame sampling, decoding with PyAV, the per-run clip cache, the loaders and the metric."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from video_writers import SIZE, frame_index, write_clip, write_msrvtt_captions, write_msrvtt_qa, write_msvd_qa

from fseval.data.base import MediaRefs
from fseval.data.video import read_youtube_mapping
from fseval.errors import DataError, MediaError
from fseval.media.images import load_media
from fseval.media.video import CLIP_CACHE, ClipCache, decode_clip, rate_indices, select_frames, uniform_indices
from fseval.metrics import get_metric
from fseval.metrics.exact_match import exact_match
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import TaskData, load_task_data
from fseval.types import MediaRef, VideoSampling

# -- which frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [
        (100, 8, [6, 18, 31, 43, 56, 68, 81, 93]),  # the middle of each of 8 segments
        (8, 8, list(range(8))),
        (12, 4, [1, 4, 7, 10]),
        (3, 8, [0, 0, 0, 1, 1, 2, 2, 2]),  # a short clip repeats frames, in order
        (1, 3, [0, 0, 0]),
    ],
)
def test_uniform_indices(total: int, count: int, expected: list[int]) -> None:
    assert uniform_indices(total, count) == expected


TEN_FPS = [i / 10 for i in range(25)]  # 2.4 s at 10 fps
VARIABLE = [i / 10 for i in range(10)] + [2.0, 3.0, 4.0]  # 10 fps for 1 s, then one frame a second


@pytest.mark.parametrize(
    ("times", "fps", "cap", "expected"),
    [
        (TEN_FPS, 1, 32, [0, 10, 20]),
        (TEN_FPS, 2, 32, [0, 5, 10, 15, 20]),
        (TEN_FPS, 30, 32, list(range(25))),  # faster than the clip: each frame once
        (TEN_FPS, 10, 8, [1, 4, 7, 10, 14, 17, 20, 23]),  # 25 sampling times, capped at 8 spread uniformly
        (VARIABLE, 1, 32, [0, 9, 10, 11, 12]),  # at 1.0 s the frame of 0.9 s is still on screen
        ([0.5, 0.6, 0.7], 1, 32, [0]),  # times count from the first frame
    ],
)
def test_rate_indices_follow_timestamps(times: list[float], fps: float, cap: int, expected: list[int]) -> None:
    assert rate_indices(times, fps, cap) == expected


def test_sampling_tag_names_the_sampling() -> None:
    assert VideoSampling().tag == "frames=8"
    assert VideoSampling(fps=1, frames=32).tag == "fps=1,frames<=32"
    with pytest.raises(ValueError):
        VideoSampling(frames=0)


# -- decoding --------------------------------------------------------------------------------------


def indices(frames: tuple) -> list[int]:
    return [frame_index(f) for f in frames]


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_decode_uniform_frames(tmp_path: Path, suffix: str) -> None:
    clip = write_clip(tmp_path / f"clip{suffix}", frames=12)
    frames = decode_clip(clip, VideoSampling(frames=4))
    assert indices(frames) == [1, 4, 7, 10]
    assert all(f.mode == "RGB" and f.size == SIZE for f in frames)


def test_decode_h264_with_reordered_frames(tmp_path: Path) -> None:
    # x264 uses B-frames: packets come in decoding order, not presentation order.
    clip = write_clip(tmp_path / "clip.mp4", frames=12, codec="libx264")
    assert indices(decode_clip(clip, VideoSampling(frames=4))) == [1, 4, 7, 10]
    assert indices(decode_clip(clip, VideoSampling(frames=12))) == list(range(12))


def test_decode_short_clip_repeats_frames(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "short.mp4", frames=3)
    assert indices(decode_clip(clip, VideoSampling(frames=8))) == [0, 0, 0, 1, 1, 2, 2, 2]
    single = write_clip(tmp_path / "single.mp4", frames=1)
    assert indices(decode_clip(single, VideoSampling(frames=2))) == [0, 0]


def test_decode_by_rate_on_a_variable_frame_rate_clip(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "vfr.mkv", times=VARIABLE)
    assert indices(decode_clip(clip, VideoSampling(fps=1, frames=32))) == [0, 9, 10, 11, 12]
    assert indices(decode_clip(clip, VideoSampling(fps=1, frames=2))) == [9, 11]
    # Uniform sampling counts frames, whatever their times.
    assert indices(decode_clip(clip, VideoSampling(frames=2))) == [3, 9]


def test_decode_by_rate_on_a_constant_rate_clip(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=13, fps=4)  # 0 .. 3 s
    assert indices(decode_clip(clip, VideoSampling(fps=1))) == [0, 4, 8, 12]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot decode video"),
        (b"\x00\x00\x00\x18ftypmp42 not a video at all", "cannot decode video"),
        (None, "video not found"),
    ],
)
def test_unreadable_clip_raises_media_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=message):
        decode_clip(path, VideoSampling())


def test_truncated_clip_raises_media_error_or_gives_frames(tmp_path: Path) -> None:
    data = write_clip(tmp_path / "clip.mkv", frames=12).read_bytes()
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(data[: len(data) // 2])
    # A streamable container cut in half still holds its first frames; whatever survives is used.
    frames = decode_clip(truncated, VideoSampling(frames=4))
    assert len(frames) == 4 and indices(frames) == sorted(indices(frames))
    mp4 = write_clip(tmp_path / "clip.mp4", frames=12).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(mp4[:200])  # no index (moov) left
    with pytest.raises(MediaError):
        decode_clip(tmp_path / "cut.mp4", VideoSampling())


def test_a_file_without_video_raises_media_error(tmp_path: Path) -> None:
    import av

    path = tmp_path / "audio.mka"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        decode_clip(path, VideoSampling())


# -- clips cut by time range ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "sampling", "expected"),
    [
        ((1.0, 2.0), VideoSampling(frames=4), [11, 13, 16, 18]),  # frames 10..19 on screen, uniform among them
        ((1.05, 4.0), VideoSampling(fps=1, frames=8), [10, 20, 30]),  # frame 10 is on screen at 1.05 s
        ((0.0, 0.05), VideoSampling(frames=3), [0, 0, 0]),  # shorter than a frame: the frame on screen, repeated
        ((4.9, 5.6), VideoSampling(frames=2), [49, 49]),  # ends past the last frame, within SPAN_OVERRUN
    ],
)
def test_select_frames_within_a_range(span: tuple[float, float], sampling: VideoSampling, expected: list[int]) -> None:
    times = [i / 10 for i in range(50)]  # 5 s at 10 fps
    assert select_frames(times, sampling, span) == expected


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ((2.0, 2.0), "empty clip range 2-2 s"),
        ((3.0, 1.0), "empty clip range 3-1 s"),
        ((-1.0, 1.0), "empty clip range -1-1 s"),
        ((5.0, 6.0), "clip range 5-6 s is past the end of the video (5.00 s long)"),
        ((1.0, 7.5), "clip range 1-7.5 s is past the end of the video (5.00 s long)"),
    ],
)
def test_impossible_ranges_are_media_errors(span: tuple[float, float], message: str) -> None:
    with pytest.raises(MediaError, match=re.escape(message)):
        select_frames([i / 10 for i in range(50)], VideoSampling(frames=4), span)


def test_decode_a_range_of_a_longer_video(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "long.mp4", frames=15, fps=5)  # 3 s
    assert indices(decode_clip(clip, VideoSampling(frames=4), (1.0, 2.0))) == [5, 6, 8, 9]
    assert indices(decode_clip(clip, VideoSampling(fps=2, frames=8), (0.5, 2.0))) == [2, 5, 7]
    with pytest.raises(MediaError, match=r"long\.mp4: clip range 4-5 s is past the end of the video \(3\.00 s long\)"):
        decode_clip(clip, VideoSampling(frames=4), (4.0, 5.0))


def test_each_range_of_a_video_is_its_own_media_item(tmp_path: Path) -> None:
    CLIP_CACHE.clear()
    clip = write_clip(tmp_path / "videos" / "v1.mp4", frames=15, fps=5)
    media = MediaRefs(tmp_path, "videos/{video}.mp4", tmp_path / "ann.csv", VideoSampling(frames=2))
    (early,), (late,), (again,) = (
        media({"video": "v1"}, (0.0, 1.0)),
        media({"video": "v1"}, (2.0, 3.0)),
        media({"video": "v1"}, (0.0, 1.0)),
    )
    assert early.key == f"{clip}#frames=2@0.0-1.0s" and late.key == f"{clip}#frames=2@2.0-3.0s" and again is early
    assert indices(load_media(early).frames) == [1, 3] and indices(load_media(late).frames) == [11, 13]
    (whole,) = media({"video": "v1"})
    assert whole.key == f"{clip}#frames=2" and whole.span is None and indices(load_media(whole).frames) == [3, 11]
    assert CLIP_CACHE.decodes == 3


# -- the clip cache -------------------------------------------------------------------------------


def video_media(path: Path, sampling: VideoSampling | None = None) -> MediaRef:
    sampling = sampling or VideoSampling(frames=4)
    return MediaRef(key=f"{path}#{sampling.tag}", path=path, video=sampling)


def test_load_media_decodes_each_clip_once(tmp_path: Path) -> None:
    CLIP_CACHE.clear()
    clip = write_clip(tmp_path / "clip.mp4", frames=12)
    first = load_media(video_media(clip))
    second = load_media(video_media(clip))
    assert first.key.endswith("#frames=4") and len(first.frames) == 4 and indices(first.frames) == [1, 4, 7, 10]
    assert second.frames is first.frames and CLIP_CACHE.decodes == 1
    other = load_media(video_media(clip, VideoSampling(frames=2)))  # another sampling is another media item
    assert len(other.frames) == 2 and CLIP_CACHE.decodes == 2


def test_failures_are_cached_too(tmp_path: Path) -> None:
    CLIP_CACHE.clear()
    (tmp_path / "bad.mp4").write_bytes(b"garbage")
    for _ in range(3):
        with pytest.raises(MediaError, match="cannot decode video"):
            load_media(video_media(tmp_path / "bad.mp4"))
    assert CLIP_CACHE.decodes == 1


def test_concurrent_requests_decode_once(tmp_path: Path) -> None:
    cache = ClipCache(max_bytes=2**30)
    clip = write_clip(tmp_path / "clip.mp4", frames=12)
    results: list[tuple] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", lambda: decode_clip(clip, VideoSampling()))))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.decodes == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_cache_is_bounded_by_bytes(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    one_clip = 2 * SIZE[0] * SIZE[1] * 3  # two RGB frames
    cache = ClipCache(max_bytes=2 * one_clip)
    for key in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" comes in
        cache.get(key, lambda: decode_clip(clip, VideoSampling(frames=2)))
    assert cache.decodes == 3
    cache.get("a", lambda: decode_clip(clip, VideoSampling(frames=2)))
    assert cache.decodes == 3
    cache.get("b", lambda: decode_clip(clip, VideoSampling(frames=2)))
    assert cache.decodes == 4


# -- loaders ----------------------------------------------------------------------------------------


def task_data(name: str, root: Path) -> TaskData:
    (task,) = load_tasks([name])
    return load_task_data(task, str(root))


def test_msrvtt_qa_loader(tmp_path: Path) -> None:
    root = write_msrvtt_qa(tmp_path / "msrvtt_qa")
    data = task_data("msrvtt_qa", tmp_path)  # found in the msrvtt_qa/ sub-folder
    assert [s.id for s in data.eval] == [200, 201, 202, 203, 204]
    first = data.eval[0]
    assert first.fields == {
        "question_id": 200,
        "question": "what is moving?",
        "video_id": 7010,
        "answer": "square",
        "answers": ["square"],
    }
    (ref,) = first.media
    assert ref.path == root / "videos" / "video7010.mp4" and ref.video == VideoSampling(frames=8)
    assert ref.key == f"{root / 'videos' / 'video7010.mp4'}#frames=8"
    assert len(data.demo_pool) == 8 and data.demo_pool[3].media[0].path == root / "videos" / "video3.mp4"
    assert data.files["eval"] == [str(root / "test_qa.json")]


def test_msvd_qa_loader_maps_ids_to_youtube_clips(tmp_path: Path) -> None:
    root = write_msvd_qa(tmp_path / "msvd")
    data = task_data("msvd_qa", root)
    first = data.eval[0]
    assert first.fields["video_id"] == 20 and first.fields["video_name"] == "yt020-_x20_60_65"
    assert first.media[0].path == root / "YouTubeClips" / "yt020-_x20_60_65.avi"
    assert str(root / "youtube_mapping.txt") in data.files["eval"]
    assert len(load_media(first.media[0]).frames) == 8


def test_youtube_mapping_format(tmp_path: Path) -> None:
    path = tmp_path / "youtube_mapping.txt"
    path.write_text("-4wsuPCjDBc_5_15 vid1\r\n-7KMZQEsJW4_205_208 vid2\r\n\r\n")
    assert read_youtube_mapping(path) == {"vid1": "-4wsuPCjDBc_5_15", "vid2": "-7KMZQEsJW4_205_208"}
    path.write_text("-4wsuPCjDBc_5_15,vid1\n")
    with pytest.raises(DataError, match="line 1"):
        read_youtube_mapping(path)


def test_msvd_qa_id_missing_from_mapping(tmp_path: Path) -> None:
    root = write_msvd_qa(tmp_path / "msvd")
    lines = (root / "youtube_mapping.txt").read_text().splitlines()
    (root / "youtube_mapping.txt").write_text("\n".join(line for line in lines if not line.endswith("vid20")))
    with pytest.raises(DataError, match="no line for vid20"):
        task_data("msvd_qa", root)


def test_msrvtt_caption_loader(tmp_path: Path) -> None:
    root = write_msrvtt_captions(tmp_path / "msrvtt")
    data = task_data("msrvtt_caption", root)
    assert [s.id for s in data.eval] == ["video7010", "video7011", "video7012"]
    assert data.eval[0].fields["references"] == [
        "a red square moves to the right 7010",
        "a square slides across a grey screen 7010",
        "something moves 7010",
    ]
    assert data.eval[0].fields["caption"] == "a red square moves to the right 7010"
    assert [s.id for s in data.demo_pool] == ["video0", "video1", "video2", "video3"]  # train, not validate
    assert data.eval[0].media[0].path == root / "videos" / "video7010.mp4"


def test_missing_files_name_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        task_data("msvd_qa", tmp_path)
    assert "youtube_mapping.txt" in error.value.message and "YouTubeClips/{video_name}.avi" in error.value.message


def test_qa_file_without_a_field(tmp_path: Path) -> None:
    root = write_msrvtt_qa(tmp_path / "d")
    items = json.loads((root / "test_qa.json").read_text())
    del items[1]["video_id"]
    (root / "test_qa.json").write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"item 1 has no field 'video_id'"):
        task_data("msrvtt_qa", root)


# -- the metric --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "answer", "variant", "expected"),
    [
        ("square", "square", "vqa", 1.0),
        ("Square.", "square", "vqa", 1.0),
        (" a box", "box", "vqa", 1.0),  # articles dropped
        ("two", "2", "vqa", 1.0),  # number words to digits
        ("dont", "don't", "vqa", 1.0),  # the contraction table
        ("squares", "square", "vqa", 0.0),
        ("red square", "square", "vqa", 0.0),
        ("", "square", "vqa", 0.0),
        (" square ", "square", "exact", 1.0),
        ("Square", "square", "exact", 0.0),
    ],
)
def test_exact_match(prediction: str, answer: str, variant: str, expected: float) -> None:
    assert exact_match(prediction, answer, variant) == expected


def test_exact_match_metric_scores_x100() -> None:
    metric = get_metric("exact_match")
    result = metric.score(["square", "blue", "One"], [{"answer": "square"}, {"answer": "red"}, {"answer": "1"}], "vqa")
    assert result.per_sample == [1.0, 0.0, 1.0] and result.value == pytest.approx(200 / 3)
    assert metric.target_fields == ("answer",) and metric.check_variant(None) == "vqa"
