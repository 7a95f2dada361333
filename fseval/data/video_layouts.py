"""The video layouts: one class per video release format (``fseval.data.layouts`` lists every format)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from fseval.data import ivqa, nextqa, rareact, star, vatex, video, youcook2
from fseval.data.layout_base import VideoFiles
from fseval.types import Sample


class VideoQaJson(VideoFiles):
    format: Literal["videoqa_json"]
    mapping: str | None = Field(default=None, description="MSVD's youtube_mapping.txt (vid<N> -> clip name)")

    def files(self) -> list[str]:
        return [f for f in (self.file, self.mapping) if f]

    def read(self, root: Path) -> list[Sample]:
        return video.read_videoqa_json(root, self.file, self.videos, self.sampling, self.mapping)


class VideoDataInfoJson(VideoFiles):
    format: Literal["videodatainfo_json"]
    split: str

    def files(self) -> list[str]:
        return [self.file]

    def details(self) -> list[str]:
        return [*super().details(), f"split {self.split!r}"]

    def read(self, root: Path) -> list[Sample]:
        return video.read_videodatainfo(root, self.file, self.split, self.videos, self.sampling)


class VatexJson(VideoFiles):
    """VATEX's caption files (``fseval.data.vatex``): clips cut per videoID, or whole videos and the videoID's range."""

    format: Literal["vatex_json"]
    whole_videos: bool = Field(
        default=False,
        description="videos are whole YouTube videos ({youtube_id}), sampled in the range the videoID names",
    )

    def files(self) -> list[str]:
        return [self.file]

    def details(self) -> list[str]:
        return [*super().details(), *(["whole videos, clipped by videoID"] if self.whole_videos else [])]

    def read(self, root: Path) -> list[Sample]:
        return vatex.read_vatex(root, self.file, self.videos, self.sampling, self.whole_videos)


class YouCook2Json(VideoFiles):
    """YouCook2's annotation file (``fseval.data.youcook2``): one sample per step, its segment of the whole video."""

    format: Literal["youcook2_json"]
    subset: str = Field(description="the subset to read (training, validation)")
    extensions: list[str] = Field(
        default_factory=lambda: ["mp4", "mkv", "webm"],
        min_length=1,
        description="{ext} in the video template: the first of these whose file exists",
    )

    def files(self) -> list[str]:
        return [self.file]

    def details(self) -> list[str]:
        return [*super().details(), f"subset {self.subset!r}", f"{{ext}}: {' | '.join(self.extensions)}"]

    def read(self, root: Path) -> list[Sample]:
        return youcook2.read_youcook2(root, self.file, self.subset, self.videos, self.sampling, self.extensions)


class IvqaCsv(VideoFiles):
    """iVQA's CSV files (``fseval.data.ivqa``): one sample per row, its clip the row's range of the video."""

    format: Literal["ivqa_csv"]

    def files(self) -> list[str]:
        return [self.file]

    def read(self, root: Path) -> list[Sample]:
        return ivqa.read_ivqa_csv(root, self.file, self.videos, self.sampling)


class StarJson(VideoFiles):
    """STAR's question files (``fseval.data.star``): one sample per question, its clip a range of a Charades video."""

    format: Literal["star_json"]

    def files(self) -> list[str]:
        return [self.file]

    def read(self, root: Path) -> list[Sample]:
        return star.read_star_json(root, self.file, self.videos, self.sampling)


class RareActCsv(VideoFiles):
    """RareAct's ``rareact.csv`` (``fseval.data.rareact``): one sample per line, its clip a range of a YouTube video."""

    format: Literal["rareact_csv"]

    def files(self) -> list[str]:
        return [self.file]

    def read(self, root: Path) -> list[Sample]:
        return rareact.read_rareact(root, self.file, self.videos, self.sampling)


class NextOeCsv(VideoFiles):
    """NExT-OE's question files (``fseval.data.nextqa``): one sample per question, its clip the VidOR video."""

    format: Literal["nextoe_csv"]
    video_map: str = Field(description="map_vid_vidorID.json: video id -> its VidOR path {vidor_path}")
    references: str | None = Field(
        default=None, description="add_reference_answer_<split>.json: a second answer for some questions"
    )

    def files(self) -> list[str]:
        return [self.file, self.video_map, *([self.references] if self.references else [])]

    def read(self, root: Path) -> list[Sample]:
        return nextqa.read_nextoe_csv(root, self.file, self.videos, self.sampling, self.video_map, self.references)
