"""A task's samples: its evaluation split and demo pool, read from the data folder once per run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fseval.data.hf import HF_PREFIX, resolve_hub_dataset
from fseval.data.layout_base import LayoutBase
from fseval.data.layouts import LoadedSplit, load_split
from fseval.errors import DataError, plural
from fseval.resources import PACKAGE_DIR
from fseval.tasks.spec import Task
from fseval.types import DemoSource, Sample


@dataclass(frozen=True)
class TaskData:
    eval: list[Sample]
    demo_pool: list[Sample]
    demo_is_eval: bool
    files: dict[str, list[str]]
    # Demos the data sets per query (VL-ICL Bench's rules), instead of draws from demo_pool.
    demo_source: DemoSource | None = None


def data_roots(task: Task, data_dir: str | None) -> list[Path]:
    """Folders to search: ``D/<task>`` then ``D``; a task's bundled data when no --data-dir is given."""
    if data_dir is None:
        if task.spec.data.default_dir is None:
            raise DataError(
                f"Task {task.name!r} needs --data-dir.", hint=f"Where to get the files: fseval tasks show {task.name}"
            )
        return [PACKAGE_DIR / task.spec.data.default_dir]
    root = resolve_hub_dataset(data_dir[len(HF_PREFIX) :]) if data_dir.startswith(HF_PREFIX) else Path(data_dir)
    if not root.is_dir():
        raise DataError(f"--data-dir {data_dir}: {'a file, not a folder' if root.exists() else 'no such folder'}.")
    return [root / task.name, root]


def load_task_data(task: Task, data_dir: str | None, limit: int | None = None, for_scoring: bool = False) -> TaskData:
    """The evaluation split (its first ``limit`` samples) and the demo pool; scoring needs neither demos nor images."""
    if for_scoring and not task.spec.scored:
        raise DataError(
            f"Task {task.name!r} is a split whose labels are withheld: fseval cannot score it.",
            hint="Write the evaluation server's file with fseval export RUN --format evalai -o DIR.",
        )
    roots = data_roots(task, data_dir)
    data = task.spec.data
    evaluation = load_split(task.name, "evaluation", data.eval, roots, data.source)
    if data.demo and not for_scoring:
        demo: LoadedSplit = load_split(task.name, "demo", data.demo, roots, data.source)
    else:
        demo = evaluation
    # Checked: the samples that are evaluated (the first ``limit``) and the whole demo pool, which demos are drawn from.
    samples = evaluation.samples[:limit] if limit is not None else evaluation.samples
    _check_fields(task, evaluation.samples[0] if evaluation.samples else None)
    if task.spec.scored:  # a split whose labels are withheld is run for its predictions only
        _check_targets(task, samples, evaluation.files)
    _check_unique_ids(task, samples, evaluation.files)
    if not for_scoring:
        _check_images(task, samples, evaluation.layout)
        if demo is not evaluation or limit is not None:
            _check_images(task, demo.samples, demo.layout)
        _check_prompt(task, demo.samples[0] if demo.samples else None, samples[0] if samples else None)
    files = {"eval": evaluation.files, "demo": demo.files}
    source = None if for_scoring else evaluation.layout.demo_source(evaluation.root, evaluation.samples)
    return TaskData(samples, demo.samples, demo is evaluation, files, source)


def _check_fields(task: Task, sample: Sample | None) -> None:
    """The fields the metric (of a scored split) and the candidates read exist in the samples (checked on the first)."""
    from fseval.metrics import get_metric

    if sample is None:
        return
    needed = list(get_metric(task.spec.metric).target_fields) if task.spec.scored else []
    if task.spec.rank is not None and task.spec.rank.candidates_field:
        needed.append(task.spec.rank.candidates_field)
    missing = [name for name in needed if name not in sample.fields]
    if missing:
        raise DataError(
            f"Task {task.name!r} ({task.path}): metric {task.spec.metric!r} or its candidates read "
            f"{', '.join(map(repr, missing))}, which the samples do not have "
            f"(fields: {', '.join(sorted(sample.fields))}).",
            hint="Pick a metric, candidates_field and data layout that go together.",
        )


def _check_targets(task: Task, samples: list[Sample], files: list[str]) -> None:
    """Every evaluated sample's targets are what the metric scores: a bad record fails here, not after the model."""
    from fseval.metrics import get_metric

    check = get_metric(task.spec.metric).check_target
    if check is None:
        return
    problems = [(sample.id, problem) for sample in samples if (problem := check(sample.fields)) is not None]
    if problems:
        shown = "; ".join(f"sample {sample_id!r}: {problem}" for sample_id, problem in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(
            f"Task {task.name!r}: {plural(len(problems), 'sample')} of {', '.join(files)} cannot be scored: "
            f"{shown}{more}.",
            hint="Fix or remove those records (is this the benchmark's original annotation file?).",
        )


def _check_unique_ids(task: Task, samples: list[Sample], files: list[str]) -> None:
    """A sample id twice would be scored twice (and its records would overwrite each other)."""
    ids = [sample.id for sample in samples]
    if set(map(type, ids)) in ({int}, {str}) and len(set(ids)) == len(ids):
        return  # distinct ints (or strings) are distinct as strings too, which is how records key them
    counts = Counter(map(str, ids))
    repeated = [key for key, count in counts.items() if count > 1]
    if repeated:
        shown = ", ".join(map(repr, repeated[:5]))
        raise DataError(
            f"Task {task.name!r}: {len(repeated)} sample ids appear more than once in {', '.join(files)} "
            f"(e.g. {shown}).",
            hint="Remove the duplicate records; each question or image must appear once.",
        )


def _check_prompt(task: Task, demo: Sample | None, query: Sample | None) -> None:
    """Before any model is loaded: the templates' fields exist and each item has one <image> per media."""
    from fseval.tasks.prompts import fill
    from fseval.types import IMAGE_TOKEN

    for role, template, sample in (("demo", task.prompt.demo, demo), ("query", task.prompt.query, query)):
        if sample is None:
            continue
        fill(template, sample)
        if template.count(IMAGE_TOKEN) != len(sample.media):
            raise DataError(
                f"Task {task.name!r}: its {role} template {template!r} has {template.count(IMAGE_TOKEN)} "
                f"{IMAGE_TOKEN} markers, but each sample has {len(sample.media)} image or video.",
                hint=f"Put one {IMAGE_TOKEN} per media item in the prompt's {role} template.",
            )


def _check_images(task: Task, samples: list[Sample], layout: LayoutBase) -> None:
    broken = next((m.error for s in samples for m in s.media if m.error), None)
    if broken:
        raise DataError(broken, hint=f"See the expected layout: fseval tasks show {task.name}")
    first = next((m.path for s in samples for m in s.media if m.path is not None), None)
    if first is not None and not first.parent.is_dir():
        raise DataError(
            f"Task {task.name!r}: media folder {first.parent} does not exist.",
            hint=f"Expected media at {layout.media()}; see fseval tasks show {task.name}.",
        )
