"""Test-server submission files of a run (``fseval export RUN --format evalai -o DIR``).

One file per (task, shots, seed) of the run, in the format its benchmark's evaluation server takes,
holding every sample of the split once. A task's server is told by its metric (and the metric's
variant in the task file); a scored split exports the same way, so a file can be checked against
the official script offline. The formats, as their servers document them:

- VQAv2 (EvalAI, VQA challenge; https://visualqa.org/evaluation.html "Results Format"):
  ``[{"question_id": int, "answer": str}]``. The server's ``loadRes`` refuses a file whose question
  ids are not exactly its split's ("Results do not correspond to current VQA set ..."; the message is
  quoted in MILVLG/mcan-vqa#28 and aimbrain/vqa-project#10), and every phase takes the test2015 file
  (test-dev is a subset of test2015: Cadene/murel.bootstrap.pytorch#9, salesforce/ALBEF#57). So a run on
  ``v2_OpenEnded_mscoco_test-dev2015_questions.json`` is exported with the test2015 questions test-dev
  lacks added, each with an empty answer, read from ``v2_OpenEnded_mscoco_test2015_questions.json``
  beside it: the test-dev phase scores test-dev's questions only; the test-standard phase needs a run
  on test2015 (task ``vqav2_test_std``).
- TextVQA (EvalAI, TextVQA challenge, as the VQA format): ``[{"question_id": int, "answer": str}]``.
- VizWiz VQA (EvalAI; https://vizwiz.org/tasks-and-datasets/vqa/): ``[{"image": str, "answer": str}]``,
  keyed by the image's file name (``VizWiz_test_00000000.jpg``), which is the query's image of the record.
- NoCaps (EvalAI; https://nocaps.org, COCO's results format): ``[{"image_id": int, "caption": str}]``.
- Hateful Memes (DrivenData; https://mmf.sh/docs/challenges/hateful_memes_challenge "Predictions for
  Challenge"): a CSV with the header ``id,proba,label``: the meme's id, the probability that it is
  hateful (fseval's P(yes): the softmax of the two candidates' scores, what ROC AUC ranks) and its
  0/1 label (1 where "yes" ranks first, what accuracy counts).

Answers and captions are the run's predictions after the task's post-processing, which is what
fseval's metric scored, with newlines and tabs made spaces and the ends stripped (every VQA
evaluator's first step). The VQA answer normalisation itself is left to the server, which applies
it as fseval's metric variant does: the official VQAv2 script normalises an answer only where the
ten references differ, so a file normalised beforehand scores differently there ("Yes" against ten
"yes"), and would not give the run's own score.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from fseval.data.base import read_json
from fseval.errors import DataError, require, require_list
from fseval.metrics.vqa_normalize import clean_whitespace
from fseval.record import RunRecord, SampleRecord, read_samples
from fseval.tasks.spec import Task, load_task_file
from fseval.types import Ranked

FORMATS = ("evalai",)
TEST_DEV_QUESTIONS = "v2_OpenEnded_mscoco_test-dev2015_questions.json"
TEST2015_QUESTIONS = "v2_OpenEnded_mscoco_test2015_questions.json"


@dataclass(frozen=True)
class Server:
    """One evaluation server's file: its name, suffix, and an entry per record."""

    name: str
    suffix: str
    entry: Callable[[Task, SampleRecord], dict[str, Any]]
    key: str  # the field that names the sample, once per file
    text: str = ""  # the field of the prediction's text (JSON files)


@dataclass(frozen=True)
class Submission:
    """A file written: its (task, shots, seed), its place and how many entries it holds."""

    task: str
    shots: int
    seed: int
    path: Path
    server: str
    entries: int
    note: str = ""


def _answer(task: Task, record: SampleRecord) -> dict[str, Any]:
    return {"question_id": record.id, "answer": clean_whitespace(record.prediction or "")}


def _vizwiz(task: Task, record: SampleRecord) -> dict[str, Any]:
    image = PurePath(record.media[-1]).name if record.media else ""  # the query's image comes last
    return {"image": image, "answer": clean_whitespace(record.prediction or "")}


def _caption(task: Task, record: SampleRecord) -> dict[str, Any]:
    return {"image_id": record.id, "caption": clean_whitespace(record.prediction or "")}


def _meme(task: Task, record: SampleRecord) -> dict[str, Any]:
    rank = task.spec.rank
    candidates = rank.fixed() if rank is not None else None
    if candidates is None or record.scores is None:
        raise DataError(f"{task.name}: sample {record.id!r} has no stored candidate scores to take P(yes) from.")
    proba = Ranked.from_scores(dict(zip(candidates, record.scores, strict=True))).probability("yes")
    return {"id": record.id, "proba": proba, "label": int(record.prediction == "yes")}


SERVERS = {
    "vqav2": Server("VQAv2 (EvalAI)", "json", _answer, "question_id", "answer"),
    "textvqa": Server("TextVQA (EvalAI)", "json", _answer, "question_id", "answer"),
    "vizwiz": Server("VizWiz VQA (EvalAI)", "json", _vizwiz, "image", "answer"),
    "nocaps": Server("NoCaps (EvalAI)", "json", _caption, "image_id", "caption"),
    "hateful_memes": Server("Hateful Memes (DrivenData)", "csv", _meme, "id"),
}


def server_for(task: Task) -> Server:
    """The server a task's split is submitted to, told by its metric (and the variant its task file names)."""
    spec = task.spec
    if spec.metric == "vqa_accuracy" and (spec.metric_variant or "vqav2") in ("vqav2", "textvqa", "vizwiz"):
        return SERVERS[spec.metric_variant or "vqav2"]
    if spec.metric == "roc_auc":
        return SERVERS["hateful_memes"]
    if spec.metric == "nocaps_cider":
        return SERVERS["nocaps"]
    raise DataError(
        f"Task {task.name!r} (metric {spec.metric}) has no test-server format in fseval export.",
        hint=f"Formats: {', '.join(server.name for server in SERVERS.values())}.",
    )


def run_task(record: RunRecord, run_dir: Path, name: str) -> Task:
    """The task file the run read (as recorded), else the one of that name now."""
    from fseval.reports.completeness import task_file

    path = task_file(record, name)
    if path is None or not path.is_file():
        raise DataError(f"{run_dir}: the task file of {name!r} cannot be found ({path or 'not recorded'}).")
    return load_task_file(path)


def export_run(run_dir: Path, folder: Path) -> list[Submission]:
    """Write every (task, shots, seed) of the run into ``folder`` (which exists); refused where one is partial."""
    record = RunRecord.load(run_dir)
    if record.config.get("limit") is not None:
        raise DataError(
            f"{run_dir} was run with --limit {record.config['limit']}: a server needs every sample of the split.",
            hint="Run the whole split (without --limit) to export it.",
        )
    samples = read_samples(run_dir)
    written = []
    for name in record.results:
        task = run_task(record, run_dir, name)
        server = server_for(task)
        for row in record.results[name]:
            for seed in row.seeds:
                group = [s for s in samples if s.task == name and s.shots == row.shots and s.seed == seed]
                entries, note = submission_entries(task, server, group, recorded_eval_files(record, name))
                path = folder / f"{name}_{row.shots}shot_seed{seed}.{server.suffix}"
                path.write_text(render(server, entries), encoding="utf-8")
                written.append(Submission(name, row.shots, seed, path, server.name, len(entries), note))
    return written


def recorded_eval_files(record: RunRecord, task: str) -> list[Path]:
    cwd = Path(str(record.config.get("cwd") or "."))
    return [cwd / str(file) for file in record.tasks.get(task, {}).get("files", {}).get("eval", [])]


def submission_entries(
    task: Task, server: Server, records: Sequence[SampleRecord], eval_files: Sequence[Path] = ()
) -> tuple[list[dict[str, Any]], str]:
    """The file's entries, one per sample in the run's order, and a note on what was added to them."""
    failed = [r for r in records if r.error is not None]
    if failed:
        raise DataError(
            f"{task.name}: {len(failed)} samples failed (first: {failed[0].id!r}: {failed[0].error}); "
            "a server needs a prediction for every sample.",
            hint="Fix their files and finish them with fseval run --resume RUN.",
        )
    entries = [server.entry(task, r) for r in records]
    note = ""
    if server is SERVERS["vqav2"] and any(PurePath(f).name == TEST_DEV_QUESTIONS for f in eval_files):
        entries, note = padded_to_test2015(entries, next(Path(f) for f in eval_files))
    problems = validate(server, entries)
    if problems:
        raise DataError(f"{task.name}: the {server.name} file would be invalid: {'; '.join(problems[:5])}.")
    return entries, note


def padded_to_test2015(entries: list[dict[str, Any]], test_dev: Path) -> tuple[list[dict[str, Any]], str]:
    """Test-dev answers plus an empty answer for each other test2015 question (EvalAI wants all of test2015)."""
    path = test_dev.with_name(TEST2015_QUESTIONS)
    if not path.is_file():
        raise DataError(
            f"EvalAI's VQA server takes a file answering every test2015 question, and {path} is missing.",
            hint=f"Put {TEST2015_QUESTIONS} beside {test_dev.name}, or run the task vqav2_test_std.",
        )
    questions = require_list(read_json(path), "questions", path)
    answered = {entry["question_id"] for entry in entries}
    added = [
        {"question_id": qid, "answer": ""}
        for i, q in enumerate(questions)
        if (qid := require(q, "question_id", path, f"questions[{i}]")) not in answered
    ]
    note = f"test-dev answers, and {len(added)} other test2015 questions answered '' (EvalAI's test-dev phase)"
    return entries + added, note


def validate(server: Server, entries: Sequence[dict[str, Any]]) -> list[str]:
    """What breaks the server's documented format: keys, types, and each sample exactly once."""
    problems = []
    keys = {server.key, server.text} if server.suffix == "json" else {"id", "proba", "label"}
    for entry in entries:
        if set(entry) != keys:
            problems.append(f"an entry has keys {sorted(entry)}, not {sorted(keys)}")
        elif not _typed(server, entry):
            problems.append(f"entry {entry} has a value of the wrong type")
    seen = [entry.get(server.key) for entry in entries]
    if len(set(map(repr, seen))) != len(seen):
        problems.append(f"a {server.key} appears more than once")
    return problems


def _typed(server: Server, entry: dict[str, Any]) -> bool:
    if server.suffix == "csv":
        proba = entry["proba"]
        return _is_int(entry["id"]) and isinstance(proba, float) and 0 <= proba <= 1 and entry["label"] in (0, 1)
    text, name = entry[server.text], entry[server.key]
    return isinstance(text, str) and (isinstance(name, str) if server.key == "image" else _is_int(name))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def render(server: Server, entries: Sequence[dict[str, Any]]) -> str:
    """JSON as the servers read it, or the CSV with full-precision probabilities."""
    if server.suffix == "json":
        return json.dumps(list(entries), ensure_ascii=False)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "proba", "label"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({**entry, "proba": repr(entry["proba"])} for entry in entries)
    return buffer.getvalue()
