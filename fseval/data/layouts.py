"""Where a task's files are: layouts declared in task files, tried in order under the data folders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fseval.errors import DataError
from fseval.types import Sample, VideoSampling

Format = Literal[
    "vqa_json",
    "textvqa_json",
    "vizwiz_json",
    "karpathy_json",
    "hateful_memes_jsonl",
    "image_folder",
    "hf_datasets",
    "videoqa_json",
    "videodatainfo_json",
]

_REQUIRED: dict[str, tuple[str, ...]] = {
    "vqa_json": ("questions", "images"),
    "textvqa_json": ("file", "images"),
    "vizwiz_json": ("file", "images"),
    "karpathy_json": ("file", "split", "images"),
    "hateful_memes_jsonl": ("file", "images"),
    "image_folder": ("folder", "classnames"),
    "hf_datasets": ("data_files", "columns"),
    "videoqa_json": ("file", "videos"),
    "videodatainfo_json": ("file", "split", "videos"),
}


class Layout(BaseModel):
    """One way a split can be laid out on disk (the official release, a converted copy, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format
    description: str = ""
    questions: str | None = None
    annotations: str | None = None
    file: str | None = None
    images: str | None = None
    split: str | None = Field(default=None, description="the Karpathy split to read (train, test)")
    folder: str | None = Field(default=None, description="class-folder root of an image_folder split")
    classnames: str | None = Field(default=None, description="class names file, one per line, in index order")
    data_files: str | None = None
    columns: dict[str, str] | None = None
    videos: str | None = Field(default=None, description="video path template of a video format")
    mapping: str | None = Field(default=None, description="MSVD's youtube_mapping.txt (vid<N> -> clip name)")
    sampling: VideoSampling | None = Field(default=None, description="frames per clip (default: 8, uniform)")

    @model_validator(mode="after")
    def _has_required_fields(self) -> Layout:
        missing = [name for name in _REQUIRED[self.format] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"format {self.format!r} needs {', '.join(missing)}")
        return self

    def files(self) -> list[str]:
        """The files this layout needs, relative to the data folder."""
        return [f for f in (self.questions, self.annotations, self.file, self.mapping) if f]

    def describe(self) -> str:
        parts = [*self.files(), *([f"images: {self.images}"] if self.images else [])]
        if self.videos:
            parts.append(f"videos: {self.videos} ({(self.sampling or VideoSampling()).tag})")
        if self.split:
            parts.append(f"split {self.split!r}")
        if self.folder:
            parts.append(f"{self.folder}/<class folder>/<image>")
        if self.data_files:
            parts.append(self.data_files)
        label = f" ({self.description})" if self.description else ""
        return f"{', '.join(parts)}{label}"

    def missing(self, root: Path) -> list[str]:
        if self.data_files:
            return [] if any(root.glob(self.data_files)) else [self.data_files]
        if self.folder:
            return [] if (root / self.folder).is_dir() else [f"{self.folder}/"]
        return [f for f in self.files() if not (root / f).is_file()]

    def read(self, root: Path) -> list[Sample]:
        from fseval.data import captions, classification, hf, video, vqa

        if self.format == "vqa_json":
            assert self.questions and self.images
            return vqa.read_vqa_json(root, self.questions, self.annotations, self.images)
        if self.format == "textvqa_json":
            assert self.file and self.images
            return vqa.read_textvqa_json(root, self.file, self.images)
        if self.format == "vizwiz_json":
            assert self.file and self.images
            return vqa.read_vizwiz_json(root, self.file, self.images)
        if self.format == "karpathy_json":
            assert self.file and self.split and self.images
            return captions.read_karpathy(root, self.file, self.split, self.images)
        if self.format == "hateful_memes_jsonl":
            assert self.file and self.images
            return classification.read_hateful_memes(root, self.file, self.images)
        if self.format == "image_folder":
            assert self.folder and self.classnames
            return classification.read_image_folder(root, self.folder, self.classnames)
        if self.format == "videoqa_json":
            assert self.file and self.videos
            return video.read_videoqa_json(root, self.file, self.videos, self.sampling or VideoSampling(), self.mapping)
        if self.format == "videodatainfo_json":
            assert self.file and self.split and self.videos
            return video.read_videodatainfo(root, self.file, self.split, self.videos, self.sampling or VideoSampling())
        assert self.data_files and self.columns
        return hf.read_hf_datasets(root, self.data_files, self.columns)


@dataclass(frozen=True)
class LoadedSplit:
    samples: list[Sample]
    root: Path
    layout: Layout

    @property
    def files(self) -> list[str]:
        named = self.layout.files() or [self.layout.folder or self.layout.data_files or ""]
        return [str(self.root / f) for f in named]


def load_split(task: str, split: str, layouts: Sequence[Layout], roots: Sequence[Path], source: str) -> LoadedSplit:
    """Read the first layout whose files exist under the first folder that has one."""
    for root in roots:
        for layout in layouts:
            if not layout.missing(root):
                return LoadedSplit(layout.read(root), root, layout)
    # The folder nearest to holding the files; on a tie, one that exists (D rather than a missing D/<task>).
    closest = min(roots, key=lambda r: (min(len(layout.missing(r)) for layout in layouts), not r.is_dir()))
    expected = "\n".join(
        f"  - {layout.describe()}; missing under {closest}: {', '.join(layout.missing(closest))}" for layout in layouts
    )
    searched = ", ".join(str(r) for r in roots)
    raise DataError(
        f"Task {task!r}: no files for its {split} split under {searched}. Expected one of:\n{expected}",
        hint=f"Get the files from {source} and pass their folder with --data-dir (fseval tasks show {task}).",
    )
