"""The sample browser's data: every (task, shots, seed, sample) of the runs, with each run's prompt and answer.

Long runs repeat themselves: the same demo text and the same image appear in many prompts, and
several runs share every sample's targets. Prompts are therefore stored as lists of chunk numbers
(a chunk is one demo or the query: the text up to and including ``<|endofchunk|>``), media and
targets as numbers into tables, and each image's thumbnail once.

    {"runs": [label], "tasks": [name], "groups": ["field=value"], "chunks": [text], "targets": [{...}],
     "media": [[name, thumbnail number or -1, why not]], "thumbnails": [data URI],
     "items": [[task, shots, seed, id, [group], target, [per run: null or
               [[chunk], [media], generation, prediction, score, error, ranking, model_prompt]]]]}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fseval.progress import phase
from fseval.reports.compare import Run
from fseval.reports.html.thumbnails import (
    BUDGET_SPENT,
    NO_FILE,
    NOT_FOUND,
    UNREADABLE,
    make_thumbnails,
    media_path,
)
from fseval.types import END_OF_CHUNK


@dataclass
class Table:
    """Values numbered in order of first appearance."""

    values: list[Any] = field(default_factory=list)
    index: dict[Hashable, int] = field(default_factory=dict)

    def number(self, value: Any, key: Hashable | None = None) -> int:
        key = value if key is None else key
        if key not in self.index:
            self.index[key] = len(self.values)
            self.values.append(value)
        return self.index[key]


def chunks(prompt: str) -> list[str]:
    """A prompt cut after each ``<|endofchunk|>``; joined, the pieces are the prompt again."""
    pieces = prompt.split(END_OF_CHUNK)
    return [piece + END_OF_CHUNK for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


@dataclass
class PayloadStats:
    samples: int = 0
    media: int = 0
    thumbnails: int = 0
    not_embedded: Counter[str] = field(default_factory=Counter)  # media without a thumbnail, by reason
    first: dict[str, str] = field(default_factory=dict)  # reason -> the first medium it kept out

    def left_out(self) -> str:
        """The media without a thumbnail, counted by reason: a line however many there are."""
        described = {
            NOT_FOUND: "not found",
            UNREADABLE: "unreadable",
            NO_FILE: "without a file (image bytes from a dataset column)",
            BUDGET_SPENT: "over the image budget (--image-budget)",
        }
        parts = []
        for reason, count in self.not_embedded.most_common():
            first = f" (first: {self.first[reason]})" if reason in (NOT_FOUND, UNREADABLE) else ""
            parts.append(f"{count:,} media {described.get(reason, reason)}{first}")
        return "; ".join(parts)


def build_payload(runs: list[Run], thumbnail_size: int, image_budget: int) -> tuple[dict[str, Any], PayloadStats]:
    tasks, groups, texts, targets, media = Table(), Table(), Table(), Table(), Table()
    items: dict[tuple[Any, ...], list[Any]] = {}
    query_media: set[int] = set()
    uses: Counter[int] = Counter()
    for position, run in enumerate(runs):
        cwd = run.record.config.get("cwd")
        where = Path(cwd) if cwd else None
        for line in run.samples:
            key = (line.task, line.shots, line.seed, json.dumps(line.id))
            if key not in items:
                target = targets.number(line.targets or {}, (line.task, key[3]))
                found = sorted(groups.number(f"{k}={v}") for k, v in (line.groups or {}).items())
                item = [tasks.number(line.task), line.shots, line.seed, line.id, found, target]
                items[key] = [*item, [None] * len(runs)]
            numbers = [media.number(_located(name, where)) for name in line.media or []]
            uses.update(numbers)
            query_media.update(numbers[-1:])  # the query's media come last in prompt order
            items[key][6][position] = [
                [texts.number(piece) for piece in chunks(line.prompt or "")],
                numbers,
                line.generation,
                line.prediction,
                line.score,
                line.error,
                (line.ranking or [])[:5],
                line.model_prompt,
            ]
    thumbnails, media_rows, stats = _thumbnails(media.values, query_media, uses, thumbnail_size, image_budget)
    stats.samples = len(items)
    payload = {
        "runs": [run.name for run in runs],
        "tasks": tasks.values,
        "groups": groups.values,
        "chunks": texts.values,
        "targets": targets.values,
        "media": media_rows,
        "thumbnails": thumbnails,
        "items": list(items.values()),
    }
    return payload, stats


def _located(name: str, cwd: Path | None) -> str:
    """A media key with a relative path made absolute (runs started in other folders share files)."""
    path = media_path(name, cwd)
    if path is None or not cwd:
        return name
    return str(path) + name[len(name.split("#", 1)[0]) :]


def _thumbnails(
    names: list[str], queries: set[int], uses: Counter[int], size: int, budget: int
) -> tuple[list[str], list[list[Any]], PayloadStats]:
    """Thumbnails for the media, queries first and then the most used, while the budget lasts; one per file."""
    order = sorted(range(len(names)), key=lambda i: (i not in queries, -uses[i], i))
    files = Table()  # a video's clips (one file, several frame selections) share the file's thumbnail
    of_file = {i: files.number(media_path(names[i], None)) for i in order}
    with phase(f"Making thumbnails of {len(files.values):,} media files"):
        made = make_thumbnails(files.values, size, budget)
    thumbnails: list[str] = []
    number_of: dict[int, int] = {}
    for file, thumbnail in enumerate(made):
        if thumbnail.uri is not None:
            number_of[file] = len(thumbnails)
            thumbnails.append(thumbnail.uri)
    rows: list[list[Any]] = []
    stats = PayloadStats(media=len(names), thumbnails=len(thumbnails))
    for i, name in enumerate(names):
        thumbnail = made[of_file[i]]
        rows.append([name, number_of.get(of_file[i], -1), thumbnail.why])
        if thumbnail.uri is None:
            stats.not_embedded[thumbnail.reason] += 1
            stats.first.setdefault(thumbnail.reason, name)
    return thumbnails, rows, stats
