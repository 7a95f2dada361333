"""Where a task's files are: layouts declared in task files, tried in order under the data folders.

A layout is one release format (the official VQAv2 files, a Karpathy split file, a class-folder
tree ...): one class with exactly the fields it needs, told apart by ``format`` in the task file,
that lists its files and reads its samples. A new format is one more class here, or in
``video_layouts.py`` for video (its reader goes in the data module of its family), and one more
member of ``Layout``. ``LayoutBase`` and the shared image and video shapes are in ``layout_base.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from fseval.data import (
    captions,
    classification,
    hf,
    nocaps,
    scienceqa,
    textcaps,
    visdial,
    vl_icl,
    vqa,
    winoground,
)
from fseval.data.base import gc_paused
from fseval.data.layout_base import ImageFiles, LayoutBase
from fseval.data.video_layouts import (
    IvqaCsv,
    NextOeCsv,
    RareActCsv,
    StarJson,
    VatexJson,
    VideoDataInfoJson,
    VideoQaJson,
    YouCook2Json,
)
from fseval.errors import DataError
from fseval.types import DemoSource, Sample


class VqaJson(LayoutBase):
    """VQAv2 / OK-VQA: questions and (for scored splits) annotations files, paired by question id."""

    format: Literal["vqa_json"]
    questions: str
    annotations: str | None = None
    images: str

    def files(self) -> list[str]:
        return [f for f in (self.questions, self.annotations) if f]

    def media(self) -> str:
        return self.images

    def details(self) -> list[str]:
        return [f"images: {self.images}"]

    def read(self, root: Path) -> list[Sample]:
        return vqa.read_vqa_json(root, self.questions, self.annotations, self.images)


class TextVqaJson(ImageFiles):
    format: Literal["textvqa_json"]

    def read(self, root: Path) -> list[Sample]:
        return vqa.read_textvqa_json(root, self.file, self.images)


class VizwizJson(ImageFiles):
    format: Literal["vizwiz_json"]

    def read(self, root: Path) -> list[Sample]:
        return vqa.read_vizwiz_json(root, self.file, self.images)


class KarpathyJson(ImageFiles):
    format: Literal["karpathy_json"]
    split: str = Field(description="the Karpathy split to read (train, test)")

    def details(self) -> list[str]:
        return [*super().details(), f"split {self.split!r}"]

    def read(self, root: Path) -> list[Sample]:
        return captions.read_karpathy(root, self.file, self.split, self.images)


class TextCapsJson(ImageFiles):
    """TextCaps' caption files (``fseval.data.textcaps``): one sample per image, all its captions as references."""

    format: Literal["textcaps_json"]

    def read(self, root: Path) -> list[Sample]:
        return textcaps.read_textcaps(root, self.file, self.images)


class NoCapsJson(ImageFiles):
    """NoCaps' COCO-style captions file (``fseval.data.nocaps``): one sample per image, with its domain."""

    format: Literal["nocaps_json"]

    def read(self, root: Path) -> list[Sample]:
        return nocaps.read_nocaps(root, self.file, self.images)


class CocoImageInfoJson(ImageFiles):
    """A COCO-style image-info file without captions (NoCaps' ``nocaps_test_image_info.json``): one sample per
    ``images[]`` record, its id ``id``, its fields the record's own (``file_name``, ``open_images_id`` ...)."""

    format: Literal["coco_image_info_json"]

    def read(self, root: Path) -> list[Sample]:
        from fseval.data.base import MediaRefs, read_json
        from fseval.errors import require, require_list

        path = root / self.file
        media = MediaRefs(root, self.images, path)
        samples = []
        for i, item in enumerate(require_list(read_json(path), "images", path)):
            image_id = require(item, "id", path, f"images[{i}]")
            samples.append(Sample(id=image_id, media=media(item), fields={**item, "image_id": image_id}))
        return samples


class HatefulMemesJsonl(ImageFiles):
    format: Literal["hateful_memes_jsonl"]

    def read(self, root: Path) -> list[Sample]:
        return classification.read_hateful_memes(root, self.file, self.images)


class ImageFolder(LayoutBase):
    format: Literal["image_folder"]
    folder: str = Field(description="class-folder root of the split")
    classnames: str = Field(description="class names file, one per line, in index order")

    def paths(self) -> list[str]:
        return [self.folder]

    def media(self) -> str:
        return f"{self.folder}/<class folder>/<image>"

    def missing(self, root: Path) -> list[str]:
        return [] if (root / self.folder).is_dir() else [f"{self.folder}/"]

    def details(self) -> list[str]:
        return [self.media()]

    def read(self, root: Path) -> list[Sample]:
        return classification.read_image_folder(root, self.folder, self.classnames)


class HfDatasets(LayoutBase):
    format: Literal["hf_datasets"]
    data_files: str
    columns: dict[str, str]

    def paths(self) -> list[str]:
        return [self.data_files]

    def missing(self, root: Path) -> list[str]:
        return [] if any(root.glob(self.data_files)) else [self.data_files]

    def details(self) -> list[str]:
        return [self.data_files]

    def read(self, root: Path) -> list[Sample]:
        return hf.read_hf_datasets(root, self.data_files, self.columns)


class WinogroundJsonl(ImageFiles):
    """Winoground's ``examples.jsonl`` (``fseval.data.winoground``): two samples per example, one per image."""

    format: Literal["winoground_jsonl"]
    images: str = Field(description="image path template on {image}, the release's file stem (image_0, image_1)")

    def read(self, root: Path) -> list[Sample]:
        return winoground.read_winoground(root, self.file, self.images)


class VisdialJson(LayoutBase):
    """VisDial v1.0's dialog file (``fseval.data.visdial``): one sample per round, with the dialog so far."""

    format: Literal["visdial_json"]
    file: str = Field(description="visdial_1.0_<split>.json")
    dense: str | None = Field(default=None, description="visdial_1.0_val_dense_annotations.json (gt_relevance)")
    images: list[str] = Field(min_length=1, description="image path templates ({image_id}): the first that exists")
    rounds: list[int] | None = Field(default=None, description="the rounds read, from 1 (default: every round)")
    options: bool = Field(default=True, description="read each round's answer options (demos need none)")
    history: str = Field(
        default="Question:{question}? Answer:{answer}. ",
        description="how each earlier round is written in the sample's history field",
    )

    def files(self) -> list[str]:
        return [self.file, *([self.dense] if self.dense else [])]

    def media(self) -> str:
        return " | ".join(self.images)

    def details(self) -> list[str]:
        rounds = "every round" if self.rounds is None else f"rounds {', '.join(map(str, self.rounds))}"
        return [f"images: {self.media()}", rounds]

    def read(self, root: Path) -> list[Sample]:
        return visdial.read_visdial(root, self.file, self.dense, self.images, self.rounds, self.options, self.history)


class ScienceQaJson(ImageFiles):
    """ScienceQA's ``problems.json`` and ``pid_splits.json`` (``fseval.data.scienceqa``): the problems with an image."""

    format: Literal["scienceqa_json"]
    splits: str = Field(description="pid_splits.json: split name -> problem ids")
    split: str = Field(description="the split to read (train, val, test, minitest ...)")

    def files(self) -> list[str]:
        return [self.file, self.splits]

    def details(self) -> list[str]:
        return [*super().details(), f"split {self.split!r}, problems with an image"]

    def read(self, root: Path) -> list[Sample]:
        return scienceqa.read_scienceqa(root, self.file, self.splits, self.split, self.images)


class VlIclJson(LayoutBase):
    """VL-ICL Bench's ``<folder>/query.json`` (and ``support.json``), images under the data folder; demos per query.

    The demo rule's fields are those of ``fseval.data.vl_icl.DemoRule``; the task file declares them. Any
    benchmark in this shape can use it: ``draw: listed`` takes each query's demos as its files list them.
    """

    format: Literal["vl_icl_json"]
    folder: str = Field(description="the task's folder in the release (open_mi, clevr, textocr ...)")
    draw: Literal["support", "query_classes", "listed"] = Field(
        default="support",
        description="demos from support.json, from the query's own classes (open_mi), or as its 'demos' field lists",
    )
    expand: list[str] = Field(default_factory=list, description="sub-records each support record gives, in order")
    answer_by: str | None = Field(default=None, description="query field picking a support record's answer")
    answer_order: list[str] = Field(default_factory=list, description="answer_by's values, in answer-list order")
    class_question: str = Field(default="This is a", description="question of query_classes demos")

    def files(self) -> list[str]:
        support = [f"{self.folder}/{vl_icl.SUPPORT_FILE}"] if self.draw == "support" else []
        return [f"{self.folder}/{vl_icl.QUERY_FILE}", *support]

    def media(self) -> str:
        return "the records' image paths, relative to the data folder"

    @property
    def sets_demos(self) -> str | None:
        if self.draw == "listed":
            return "per query, as its record's 'demos' field lists them for each shot count"
        if self.draw == "query_classes":
            rule = f"per shot, an image of the query's class and one of another class ({self.class_question!r})"
        else:
            rule = "support.json records" + (f", each as its {' and '.join(self.expand)} pair" if self.expand else "")
            rule += f", each answer the one for the query's {self.answer_by}" if self.answer_by else ""
        return f"per query, VL-ICL's select_demonstration from --seed: {rule}"

    def read(self, root: Path) -> list[Sample]:
        return vl_icl.read_queries(root, self.folder)

    def demo_source(self, root: Path, samples: list[Sample]) -> DemoSource | None:
        rule = vl_icl.DemoRule(
            self.draw, tuple(self.expand), self.answer_by, tuple(self.answer_order), self.class_question
        )
        return vl_icl.demo_source(root, self.folder, rule, samples)


Layout = Annotated[
    VqaJson
    | TextVqaJson
    | VizwizJson
    | KarpathyJson
    | HatefulMemesJsonl
    | ImageFolder
    | HfDatasets
    | WinogroundJsonl
    | VideoQaJson
    | VideoDataInfoJson
    | IvqaCsv
    | StarJson
    | VatexJson
    | YouCook2Json
    | RareActCsv
    | NextOeCsv
    | VisdialJson
    | ScienceQaJson
    | TextCapsJson
    | NoCapsJson
    | CocoImageInfoJson
    | VlIclJson,
    Field(discriminator="format"),
]


@dataclass(frozen=True)
class LoadedSplit:
    samples: list[Sample]
    root: Path
    layout: LayoutBase

    @property
    def files(self) -> list[str]:
        return [str(self.root / f) for f in self.layout.paths()]


def load_split(task: str, split: str, layouts: Sequence[LayoutBase], roots: Sequence[Path], source: str) -> LoadedSplit:
    """Read the first layout whose files exist under the first folder that has one."""
    for root in roots:
        for layout in layouts:
            if not layout.missing(root):
                with gc_paused():
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
