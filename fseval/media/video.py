"""Decoding video clips into the frames a model sees, with PyAV; each clip is decoded once per run.

Sampling works on the frames' presentation timestamps, read from the container's packets before any
frame is decoded, so variable-frame-rate clips are sampled by time, not by a nominal rate:

- uniform (``VideoSampling(frames=N)``): the middle frame of each of N equal segments of the clip
  (index ``floor((i + 0.5) * T / N)`` of T frames); a clip with fewer than N frames repeats frames,
  so every clip gives N frames.
- by rate (``VideoSampling(fps=r, frames=N)``, Flamingo samples at 1 FPS): the frame on screen at
  0, 1/r, 2/r, ... seconds after the first frame, each frame once; past N of them, N spread uniformly.

A clip cut out of a longer video (``MediaRef.span``: start and end seconds, counted from the video's first
frame) is sampled the same way among the frames on screen during the range, the first counted from the
range's start. An empty range, or one that starts at or past the video's end or ends more than
``SPAN_OVERRUN`` seconds past it (annotations round their ends), fails the sample with a message that
gives the video's length.

Frames stay full-size RGB PIL images; the model adapter resizes and normalises them with its image
processor, frame by frame, into ``vision_x`` of shape (B, T_img, F, C, H, W). A clip that cannot be
read fails its sample (``MediaError``), and that outcome is cached too, so a broken demo clip is not
retried for every query that draws it.
"""

from __future__ import annotations

import bisect
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from fseval.errors import FsevalError, MediaError
from fseval.types import Media, MediaRef, VideoSampling

CACHE_ENV = "FSEVAL_VIDEO_CACHE_MB"
# Without $FSEVAL_VIDEO_CACHE_MB: a quarter of the machine's memory, at most 16 GiB (all 10,000 MSR-VTT
# clips at 8 frames of 320x240 take about 18 GiB), at least 1 GiB.
MIN_CACHE_BYTES, MAX_CACHE_BYTES = 2**30, 16 * 2**30

Frames = tuple[Image.Image, ...]
Span = tuple[float, float]

SPAN_OVERRUN = 1.0  # seconds a clip's range may end past its video's last frame (rounded annotations)


# -- which frames --------------------------------------------------------------------------------


def uniform_indices(total: int, count: int) -> list[int]:
    """The middle frame of each of ``count`` equal segments of ``total`` frames (repeats when total < count)."""
    if total <= 0 or count <= 0:
        raise ValueError(f"cannot sample {count} of {total} frames")
    return [min(total - 1, int((i + 0.5) * total / count)) for i in range(count)]


def rate_indices(times: Sequence[float], fps: float, cap: int) -> list[int]:
    """The frames on screen every ``1/fps`` s from the first one (``times``: ascending seconds), at most ``cap``."""
    if not times:
        raise ValueError("no frames to sample")
    start, end = times[0], times[-1]
    chosen: list[int] = []
    step = 0
    # A tolerance so that a frame stamped at exactly k/fps (up to float error) counts as on screen then.
    while start + step / fps <= end + 1e-6:
        index = bisect.bisect_right(times, start + step / fps + 1e-6) - 1
        if not chosen or chosen[-1] != index:
            chosen.append(index)
        step += 1
    if len(chosen) > cap:
        chosen = [chosen[i] for i in uniform_indices(len(chosen), cap)]
    return chosen


def select_frames(times: Sequence[float], sampling: VideoSampling, span: Span | None = None) -> list[int]:
    """Indices into ``times`` (ascending seconds from the first frame) of the frames ``sampling`` takes.

    With ``span`` only the frames on screen during it are candidates (``clip_frames``); an impossible
    range raises ``MediaError``.
    """
    first = 0
    if span is not None:
        first, last = clip_frames(times, span)
        times = [max(t, span[0]) for t in times[first:last]]
    if sampling.fps is None:
        chosen = uniform_indices(len(times), sampling.frames)
    else:
        chosen = rate_indices(times, sampling.fps, sampling.frames)
    return [first + i for i in chosen]


def clip_frames(times: Sequence[float], span: Span) -> tuple[int, int]:
    """``[first, last)``: the frames on screen during ``span`` (frame i shows from ``times[i]`` to the next frame).

    The video lasts until its last frame has been shown for one typical frame interval.
    """
    start, end = span
    if not end > start >= 0:
        raise MediaError(f"empty clip range {start:g}-{end:g} s (it must start at 0 or later and end after it starts)")
    length = video_length(times)
    if start >= length or end > length + SPAN_OVERRUN:
        raise MediaError(f"clip range {start:g}-{end:g} s is past the end of the video ({length:.2f} s long)")
    first = bisect.bisect_right(times, start + 1e-6) - 1  # the frame on screen at the start
    last = bisect.bisect_left(times, end - 1e-6)  # frames that start before the end
    return max(first, 0), max(last, first + 1)


def video_length(times: Sequence[float]) -> float:
    """Seconds from the first frame to the end of the last one (its shown time taken as the median interval)."""
    if len(times) < 2:
        return times[-1] + 1 / 25 if times else 0.0
    intervals = sorted(b - a for a, b in itertools.pairwise(times))
    return times[-1] + intervals[len(intervals) // 2]


# -- decoding ------------------------------------------------------------------------------------


def _import_av() -> Any:
    try:
        import av
    except ImportError as e:
        raise FsevalError("Video tasks decode clips with PyAV, which is not installed.", hint="pip install av") from e
    return av


def _frame_stamps(av: Any, path: Path) -> list[int | None]:
    """Every video packet's timestamp (pts, else dts), from a demuxing pass: nothing is decoded."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {path}")
        stream = container.streams.video[0]
        stamps = [p.pts if p.pts is not None else p.dts for p in container.demux(stream) if p.size > 0]
    if not stamps:
        raise MediaError(f"no video frames in {path}")
    return stamps


def decode_clip(path: Path, sampling: VideoSampling, span: Span | None = None) -> Frames:
    """The frames ``sampling`` selects from the clip at ``path`` (within ``span``), as RGB images, in time order."""
    av = _import_av()
    if not path.is_file():
        raise MediaError(f"video not found: {path}")
    try:
        stamps = _frame_stamps(av, path)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if None in stamps:
                # No timestamps in the container: frames are taken by position at the stream's nominal rate.
                rate = float(stream.average_rate or stream.guessed_rate or 25)
                indices = _select(path, [i / rate for i in range(len(stamps))], sampling, span)
                return _decode_at(container.decode(stream), indices, path, by_position=True)
            known = sorted(s for s in stamps if s is not None)
            unit = float(stream.time_base) if stream.time_base is not None else 1.0
            indices = _select(path, [(s - known[0]) * unit for s in known], sampling, span)
            return _decode_at(container.decode(stream), [known[i] for i in indices], path)
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot decode video {path}: {e}") from e


def _select(path: Path, times: list[float], sampling: VideoSampling, span: Span | None) -> list[int]:
    try:
        return select_frames(times, sampling, span)
    except MediaError as e:  # the clip's range does not fit its video
        raise MediaError(f"{path}: {e}") from None


def _decode_at(decoded: Any, wanted: list[int], path: Path, by_position: bool = False) -> Frames:
    """Images of the frames stamped (or, ``by_position``, numbered) ``wanted``, ascending, repeats allowed.

    Decoding stops after the last wanted frame.
    """
    out: list[Image.Image] = []
    image = None
    for position, frame in enumerate(decoded):
        stamp = position if by_position or frame.pts is None else frame.pts
        if stamp >= wanted[len(out)]:
            image = frame.to_image()
            while len(out) < len(wanted) and stamp >= wanted[len(out)]:
                out.append(image)
            if len(out) == len(wanted):
                return tuple(out)
    if image is None:
        raise MediaError(f"no frame of {path} could be decoded")
    # The decoder gave fewer frames than the container lists (a truncated file): repeat its last one.
    return tuple(out + [out[-1]] * (len(wanted) - len(out)))


# -- the per-run cache ---------------------------------------------------------------------------


class ClipCache:
    """Decoded clips by media key, bounded by their pixels' size (least recently used dropped first).

    Thread-safe: two threads asking for the same clip decode it once. ``decodes`` counts decodings
    (failed ones included), which is how tests check that each clip is decoded once per run.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.decodes = 0
        self._entries: OrderedDict[str, tuple[Frames | str, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._decoding: dict[str, threading.Lock] = {}

    def get(self, key: str, decode: Callable[[], Frames]) -> Frames:
        with self._lock:
            entry = self._lookup(key)
            key_lock = self._decoding.setdefault(key, threading.Lock()) if entry is None else None
        if entry is None:
            assert key_lock is not None
            with key_lock:  # another thread may be decoding this clip: wait for it, then look again
                with self._lock:
                    entry = self._lookup(key)
                if entry is None:
                    entry = self._decode(key, decode)
        if isinstance(entry, str):
            raise MediaError(entry)
        return entry

    def _lookup(self, key: str) -> Frames | str | None:
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def _decode(self, key: str, decode: Callable[[], Frames]) -> Frames | str:
        value: Frames | str
        try:
            value = decode()
        except MediaError as e:
            value = str(e)
        size = len(value) if isinstance(value, str) else sum(f.width * f.height * len(f.getbands()) for f in value)
        with self._lock:
            self.decodes += 1
            self._decoding.pop(key, None)
            self._entries[key] = (value, size)
            self._size += size
            while self._size > self.max_bytes and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0
            self.decodes = 0


def _cache_bytes() -> int:
    value = os.environ.get(CACHE_ENV, "")
    if value:
        try:
            return int(float(value) * 2**20)
        except ValueError:
            raise FsevalError(f"${CACHE_ENV} should be a number of MiB, found {value!r}.") from None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return MIN_CACHE_BYTES
    return max(MIN_CACHE_BYTES, min(MAX_CACHE_BYTES, memory // 4))


CLIP_CACHE = ClipCache(_cache_bytes())


def load_video(ref: MediaRef) -> Media:
    """The clip's sampled frames as one media item (``Media.frames`` holds F images)."""
    assert ref.video is not None and ref.path is not None
    path, sampling, span = ref.path, ref.video, ref.span
    return Media(key=ref.key, frames=CLIP_CACHE.get(ref.key, lambda: decode_clip(path, sampling, span)))
