"""VL-ICL Bench's image-to-text tasks (Zong, Bohdal and Hospedales, ICLR 2025): release files and demo rules.

Each task is a folder of the release, ``<root>/<dataset>/query.json`` and ``support.json`` beside the
images, read as ys-zong/VL-ICL's I2T code reads them (commit 2b77eee): JSON lists of records with
``image`` (image paths relative to ``<root>``, the folder that holds the task folders; one path counts
as a list of one), ``question`` and ``answer``. The operator tasks add the query's ``operator`` and give
each support record one answer per operator; open_mi's queries carry ``classes`` and their own
``support`` images per class; matching_mi's support records hold a ``same`` and a ``diff`` example.
A query's sample id is its position in query.json, and its fields are its record without ``image``.

Demos follow ``utils/ICL_utils.py:select_demonstration``, by the rule the task file declares
(``DemoRule``):

- ``draw: support``: ``random.sample`` of ``shots`` support records. With ``expand`` each record
  gives those sub-records in order (matching_mi: ``same`` then ``diff``); with ``answer_by`` a record's
  answer is the item of its answer list at the position of the query's field value in ``answer_order``
  (the operator tasks: ``+``, ``-``, ``x``).
- ``draw: query_classes`` (open_mi): ``random.choice`` of another of the query's ``classes``, then
  ``random.choice([True, False])`` puts the query's class first (True) or second, even at 0 shots;
  shot i shows image i of each class in that order, with the question ``class_question``.
- ``draw: listed``: not VL-ICL's; for any benchmark whose files fix each query's demos. A query's
  ``demos`` field maps a shot count (as a string) to its demo records, shaped as the queries are
  (``image``, ``question``, ``answer``); no seed enters, and a count it does not list is an error
  (0 shots: no demos).

I2T_inference.py seeds Python's ``random`` once and draws for every query in file order at each
count of ``--n_shot`` (0 1 2 4 8 by default) in turn, so all draws are one stream. fseval replays
that stream from the run's seed: a count's draws follow those of the default counts below it, as
``--n_shot 0 1 2 4 8`` (with that count inserted, if it is another) draws them. So the demos at 0, 1,
2, 4 and 8 shots are the official ones whichever counts a run asks for.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import MediaRef, Sample

OFFICIAL_SHOTS = (0, 1, 2, 4, 8)
QUERY_FILE, SUPPORT_FILE = "query.json", "support.json"


@dataclass(frozen=True)
class DemoRule:
    """How a query's demos are drawn (see the module docstring)."""

    draw: Literal["support", "query_classes", "listed"] = "support"
    expand: tuple[str, ...] = ()
    answer_by: str | None = None
    answer_order: tuple[str, ...] = ()
    class_question: str = "This is a"


def _images(record: Mapping[str, Any], refs: MediaRefs, path: Path, where: str) -> tuple[MediaRef, ...]:
    images = require(record, "image", path, where)
    listed = [images] if isinstance(images, str) else images
    if not isinstance(listed, list) or not listed or not all(isinstance(i, str) for i in listed):
        raise DataError(f"{path}: {where} field 'image' should be an image path or a list of them, not {images!r}.")
    return tuple(ref for image in listed for ref in refs({"image": image}))


def _sample(sample_id: int | str, record: Any, refs: MediaRefs, path: Path, where: str) -> Sample:
    for key in ("question", "answer"):
        require(record, key, path, where)
    fields = {key: value for key, value in record.items() if key != "image"}
    return Sample(sample_id, _images(record, refs, path, where), fields)


def read_queries(root: Path, folder: str) -> list[Sample]:
    """The queries of ``<root>/<folder>/query.json``, ids their positions in the file."""
    path = root / folder / QUERY_FILE
    refs = MediaRefs(root, "{image}", path)
    records = require_list(read_json(path), None, path)
    return [_sample(i, record, refs, path, f"record {i}") for i, record in enumerate(records)]


def read_support(root: Path, folder: str, expand: Sequence[str]) -> list[tuple[Sample, ...]]:
    """Each support record as the demos it gives: itself, or its ``expand`` sub-records in order."""
    path = root / folder / SUPPORT_FILE
    refs = MediaRefs(root, "{image}", path)
    units: list[tuple[Sample, ...]] = []
    for i, record in enumerate(require_list(read_json(path), None, path)):
        if not expand:
            units.append((_sample(f"support:{i}", record, refs, path, f"record {i}"),))
            continue
        parts = [(part, require(record, part, path, f"record {i}")) for part in expand]
        units.append(
            tuple(_sample(f"support:{i}:{part}", sub, refs, path, f"record {i}.{part}") for part, sub in parts)
        )
    return units


@dataclass
class VlIclDemos:
    """VL-ICL's demos for each query (``fseval.types.DemoSource``), replayed per seed and cached."""

    root: Path
    folder: str
    rule: DemoRule
    queries: Sequence[Sample]
    support: Sequence[tuple[Sample, ...]]
    description: str = "VL-ICL Bench's select_demonstration, replayed from the run's seed over shots 0, 1, 2, 4, 8"
    _drawn: dict[tuple[int, int], dict[str, list[Sample]]] = field(default_factory=dict)
    _refs: MediaRefs = field(init=False)  # the media of demos that query.json's records name

    def __post_init__(self) -> None:
        self._refs = MediaRefs(self.root, "{image}", self._file(QUERY_FILE))

    def demos(self, seed: int, shots: int) -> Mapping[str, Sequence[Sample]]:
        if (seed, shots) not in self._drawn:
            rng = random.Random(seed)  # as random.seed(seed): utils.set_random_seed
            before = [] if self.rule.draw == "listed" else [c for c in OFFICIAL_SHOTS if c < shots]  # no stream
            for count in [*before, shots]:
                self._drawn[(seed, count)] = {str(q.id): self._draw(rng, q, count) for q in self.queries}
        return self._drawn[(seed, shots)]

    def _draw(self, rng: random.Random, query: Sample, shots: int) -> list[Sample]:
        if self.rule.draw == "query_classes":
            return self._class_pairs(rng, query, shots)
        if self.rule.draw == "listed":
            return self._listed(query, shots)
        if shots > len(self.support):
            raise DataError(
                f"{self._file(SUPPORT_FILE)} has {len(self.support)} records, fewer than the {shots} shots asked for.",
                hint="Use fewer --shots.",
            )
        demos = [demo for unit in rng.sample(self.support, shots) for demo in unit]
        return [self._answer_for(query, demo) for demo in demos] if self.rule.answer_by else demos

    def _answer_for(self, query: Sample, demo: Sample) -> Sample:
        """The demo with the answer of its list that the query's ``answer_by`` field picks."""
        key = self.rule.answer_by
        assert key is not None
        value = query.fields.get(key)
        if value not in self.rule.answer_order:
            raise DataError(
                f"{self._file(QUERY_FILE)}: record {query.id} field {key!r} is {value!r}, "
                f"not one of {', '.join(map(repr, self.rule.answer_order))}."
            )
        answers = demo.fields["answer"]
        position = self.rule.answer_order.index(value)
        if not isinstance(answers, list) or len(answers) != len(self.rule.answer_order):
            raise DataError(
                f"{self._file(SUPPORT_FILE)}: {demo.id} field 'answer' should be a list of "
                f"{len(self.rule.answer_order)} answers (one per {key}), not {answers!r}."
            )
        return replace(demo, fields={**demo.fields, "answer": answers[position]})

    def _class_pairs(self, rng: random.Random, query: Sample, shots: int) -> list[Sample]:
        """Two classes, the query's and another of its ``classes``, one support image each per shot."""
        where = f"{self._file(QUERY_FILE)}: record {query.id}"
        own, classes = query.fields["answer"], query.fields.get("classes")
        others = [c for c in classes if c != own] if isinstance(classes, list) else []
        if not others:
            raise DataError(f"{where} field 'classes' should list the query's class and another: {classes!r}.")
        other = rng.choice(others)
        order = [own, other] if rng.choice([True, False]) else [other, own]
        support = query.fields.get("support")
        demos = []
        for i in range(shots):
            for name in order:
                images = support.get(name, {}).get("images", []) if isinstance(support, dict) else []
                if i >= len(images) or not isinstance(images[i], str):
                    raise DataError(
                        f"{where} has no support image {i} for class {name!r} (support.{name}.images), "
                        f"needed at {shots} shots.",
                        hint="Use fewer --shots.",
                    )
                fields = {"question": self.rule.class_question, "answer": name}
                demos.append(Sample(f"{query.id}:{name}:{i}", self._refs({"image": images[i]}), fields))
        return demos

    def _listed(self, query: Sample, shots: int) -> list[Sample]:
        """The demo records the query's ``demos`` field lists for ``shots``."""
        path = self._file(QUERY_FILE)
        listed = query.fields.get("demos")
        records = listed.get(str(shots)) if isinstance(listed, dict) else None
        if records is None and shots == 0:
            return []
        if not isinstance(records, list):
            counts = ", ".join(map(str, listed)) if isinstance(listed, dict) else "none"
            raise DataError(
                f"{path}: record {query.id} field 'demos' lists no demos for {shots} shots (it lists: {counts}).",
                hint='Give each query "demos": {"<shots>": a list of records with image, question, answer}.',
            )
        where = f"record {query.id} demos[{shots!r}]"
        return [_sample(f"{query.id}:{shots}:{i}", r, self._refs, path, f"{where}[{i}]") for i, r in enumerate(records)]

    def _file(self, name: str) -> Path:
        return self.root / self.folder / name


def demo_source(root: Path, folder: str, rule: DemoRule, queries: Sequence[Sample]) -> VlIclDemos:
    support = read_support(root, folder, rule.expand) if rule.draw == "support" else []
    return VlIclDemos(root, folder, rule, queries, support)
