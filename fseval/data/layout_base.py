"""What every layout is (``LayoutBase``), and the shared shapes of image and video layouts.

``layouts.py`` holds the image and multi-part layouts and the ``Layout`` union of every format;
``video_layouts.py`` the video ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from fseval.types import DemoSource, Sample, VideoSampling


class LayoutBase(BaseModel, ABC):
    """One way a split can be laid out on disk (the official release, a converted copy, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""

    def files(self) -> list[str]:
        """The files this layout needs, relative to the data folder."""
        return []

    def paths(self) -> list[str]:
        """What identifies the split on disk (files, or the folder or pattern it is read from)."""
        return self.files()

    def media(self) -> str:
        """Where its images or clips are, as the task file spells it."""
        return ""

    @property
    def video(self) -> bool:
        """Whether its media are video clips."""
        return False

    def missing(self, root: Path) -> list[str]:
        return [f for f in self.files() if not (root / f).is_file()]

    def details(self) -> list[str]:
        return []

    def describe(self) -> str:
        parts = [*self.files(), *self.details()]
        return ", ".join(parts) + (f" ({self.description})" if self.description else "")

    @abstractmethod
    def read(self, root: Path) -> list[Sample]:
        """The split's samples, read from its files under ``root``."""

    @property
    def sets_demos(self) -> str | None:
        """How its data sets each query's demos (``demo_source``), in words; None: they are drawn from a pool."""
        return None

    def demo_source(self, root: Path, samples: list[Sample]) -> DemoSource | None:
        """The demos its data sets per query (structured demos), when the format has them; None: drawn from a pool."""
        return None


class ImageFiles(LayoutBase):
    """A split in one file, its images at a path template on its records."""

    file: str
    images: str

    def files(self) -> list[str]:
        return [self.file]

    def media(self) -> str:
        return self.images

    def details(self) -> list[str]:
        return [f"images: {self.images}"]


class VideoFiles(LayoutBase):
    """A split in one file, its clips at a path template, sampled as ``sampling`` says."""

    file: str
    videos: str = Field(description="video path template")
    sampling: VideoSampling = Field(default_factory=VideoSampling, description="frames per clip (8, uniform)")

    def media(self) -> str:
        return self.videos

    @property
    def video(self) -> bool:
        return True

    def details(self) -> list[str]:
        return [f"videos: {self.videos} ({self.sampling.tag})"]
