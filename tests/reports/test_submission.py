"""``fseval export RUN --format evalai``: each server's file, checked against its documented format, and a
scored split's file giving, through the official scoring, the run's own score."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from data_writers import (
    flat,
    run_outputs,
    write_hateful_memes_test,
    write_image,
    write_nocaps_test,
    write_textvqa_test,
    write_vizwiz_test,
    write_vqav2,
    write_vqav2_test,
)
from run_helpers import MockRun
from typer.testing import CliRunner

from fseval.cli import app
from fseval.metrics.vqa import vqa_accuracy
from fseval.metrics.vqa_normalize import normalize_answer

FIXTURES = Path(__file__).parents[1] / "fixtures"
ANSWER_QUESTION = ("--model-arg", "mode=field", "--model-arg", "field=question")
ANSWER_TEXT = ("--model-arg", "mode=field", "--model-arg", "field=text")


def export(run: Path, out: Path) -> dict[str, Path]:
    result = CliRunner().invoke(app, ["export", str(run), "--format", "evalai", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return {path.name: path for path in out.iterdir()}


def json_entries(path: Path, keys: tuple[str, str]) -> list[dict[str, Any]]:
    """The EvalAI results format: a JSON list of objects with exactly ``keys``, the second a string."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    for entry in entries:
        assert isinstance(entry, dict) and set(entry) == set(keys)
        assert isinstance(entry[keys[1]], str)
    return entries


def question_ids(path: Path) -> list[int]:
    return [q["question_id"] for q in json.loads(path.read_text())["questions"]]


def test_vqav2_test_dev_file_answers_every_test2015_question(mock_run: MockRun, tmp_path: Path) -> None:
    # visualqa.org/evaluation.html: [{"question_id": int, "answer": str}]; EvalAI's loadRes asserts the file's
    # question ids are exactly the split's, and its test-dev phase takes the test2015 file.
    data = write_vqav2_test(tmp_path / "data")
    run = mock_run(tmp_path / "run", "--data-dir", str(data), *ANSWER_QUESTION, "--shots", "0,4", task="vqav2_test_dev")
    files = export(run, tmp_path / "out")
    assert sorted(files) == ["vqav2_test_dev_0shot_seed42.json", "vqav2_test_dev_4shot_seed42.json"]
    test_dev = set(question_ids(data / "v2_OpenEnded_mscoco_test-dev2015_questions.json"))
    for path in files.values():
        entries = json_entries(path, ("question_id", "answer"))
        ids = [e["question_id"] for e in entries]
        assert all(type(i) is int for i in ids)
        assert sorted(ids) == sorted(question_ids(data / "v2_OpenEnded_mscoco_test2015_questions.json"))
        assert all((e["answer"] != "") == (e["question_id"] in test_dev) for e in entries)


def test_vqav2_test_dev_without_test2015_questions_is_refused(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_vqav2_test(tmp_path / "data")
    run = mock_run(tmp_path / "run", "--data-dir", str(data), *ANSWER_QUESTION, "--shots", "0", task="vqav2_test_dev")
    (data / "v2_OpenEnded_mscoco_test2015_questions.json").unlink()
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "every test2015 question" in flat(result.output) and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("task", "writer", "questions"),
    [
        ("vqav2_test_std", write_vqav2_test, "v2_OpenEnded_mscoco_test2015_questions.json"),
        ("textvqa_test", write_textvqa_test, "TextVQA_0.5.1_test.json"),
    ],
)
def test_question_id_files(mock_run: MockRun, tmp_path: Path, task: str, writer: Any, questions: str) -> None:
    data = writer(tmp_path / "data")
    run = mock_run(tmp_path / "run", "--data-dir", str(data), *ANSWER_QUESTION, "--shots", "0", task=task)
    (path,) = export(run, tmp_path / "out").values()
    entries = json_entries(path, ("question_id", "answer"))
    released = json.loads((data / questions).read_text())
    items = released.get("questions") or released.get("data")
    assert sorted(e["question_id"] for e in entries) == sorted(q["question_id"] for q in items)
    assert {e["question_id"]: e["answer"] for e in entries} == {q["question_id"]: q["question"] for q in items}


def test_vizwiz_file_is_keyed_by_image_name(mock_run: MockRun, tmp_path: Path) -> None:
    # vizwiz.org VQA challenge: [{"image": "VizWiz_test_00000000.jpg", "answer": str}], every test image once.
    data = write_vizwiz_test(tmp_path / "data")
    run = mock_run(tmp_path / "run", "--data-dir", str(data), *ANSWER_QUESTION, "--shots", "0,4", task="vizwiz_test")
    released = json.loads((data / "Annotations" / "test.json").read_text())
    for path in export(run, tmp_path / "out").values():
        entries = json_entries(path, ("image", "answer"))
        assert all(re.fullmatch(r"VizWiz_test_\d{8}\.jpg", e["image"]) for e in entries)
        assert {e["image"]: e["answer"] for e in entries} == {q["image"]: q["question"] for q in released}
        assert len(entries) == len(released)


def test_nocaps_file_has_every_test_image(mock_run: MockRun, tmp_path: Path) -> None:
    # nocaps.org (EvalAI), COCO's results format: [{"image_id": int, "caption": str}], every test image once.
    data = write_nocaps_test(tmp_path / "data") / "nocaps"
    options = ("--model-arg", "mode=field", "--model-arg", "field=file_name", "--shots", "0,4")
    run = mock_run(tmp_path / "run", "--data-dir", str(data), *options, task="nocaps_test")
    released = json.loads((data / "nocaps_test_image_info.json").read_text())["images"]
    for path in export(run, tmp_path / "out").values():
        entries = json_entries(path, ("image_id", "caption"))
        assert all(type(e["image_id"]) is int for e in entries)
        assert {e["image_id"]: e["caption"] for e in entries} == {i["id"]: i["file_name"] for i in released}
        assert len(entries) == len(released)


def read_memes_csv(path: Path) -> list[dict[str, str]]:
    """DrivenData's submission: header id,proba,label; an integer id, proba in [0, 1], label 0 or 1."""
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "id,proba,label"
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        assert row["id"].isdigit() and 0 <= float(row["proba"]) <= 1 and row["label"] in ("0", "1")
    assert len({row["id"] for row in rows}) == len(rows)
    return rows


def test_hateful_memes_test_unseen_csv(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_hateful_memes_test(tmp_path / "data")
    run = mock_run(
        tmp_path / "run", "--data-dir", str(data), *ANSWER_TEXT, "--shots", "0", task="hateful_memes_test_unseen"
    )
    (path,) = export(run, tmp_path / "out").values()
    rows = read_memes_csv(path)
    released = [json.loads(line) for line in (data / "test_unseen.jsonl").read_text().splitlines()]
    assert sorted(int(row["id"]) for row in rows) == sorted(item["id"] for item in released)
    assert all((row["label"] == "1") == (float(row["proba"]) > 0.5) for row in rows)


def test_hateful_memes_test_seen_csv_gives_the_runs_auc(mock_run: MockRun, tmp_path: Path) -> None:
    """scikit-learn's roc_auc_score of the exported CSV (scripts/make_submission_auc_fixture.py) is the run's score."""
    official = json.loads((FIXTURES / "official_submission" / "hateful_memes_test_seen.json").read_text())
    data = write_hateful_memes_test(tmp_path / "data")
    run = mock_run(
        tmp_path / "run", "--data-dir", str(data), *ANSWER_TEXT, "--shots", "0", task="hateful_memes_test_seen"
    )
    (path,) = export(run, tmp_path / "out").values()
    assert path.read_text(encoding="utf-8") == official["csv"]
    read_memes_csv(path)
    (row,) = run_outputs(run)[1]["hateful_memes_test_seen"]
    assert row["mean"] == pytest.approx(100 * official["roc_auc"], abs=1e-9)


def official_vqa_data(root: Path) -> Path:
    """The official VQA fixture's val2014 files as a data folder, each question's text being the answer that the
    official script scored for it (results.json), so the mock (``mode=field field=question``) predicts it."""
    write_vqav2(root)  # train2014 for the demos
    source = FIXTURES / "official_vqa"
    answers = {r["question_id"]: r["answer"] for r in json.loads((source / "results.json").read_text())}
    questions = json.loads((source / "v2_OpenEnded_mscoco_val2014_questions.json").read_text())
    for question in questions["questions"]:
        question["question"] = answers[question["question_id"]]
        write_image(root / "val2014" / f"COCO_val2014_{question['image_id']:012d}.jpg", question["image_id"])
    (root / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(questions))
    shutil.copy(source / "v2_mscoco_val2014_annotations.json", root)
    return root


def test_vqav2_scored_split_export_gives_the_official_score(mock_run: MockRun, tmp_path: Path) -> None:
    """The export of a scored VQAv2 run is the file the official script scored (tests/fixtures/official_vqa, made
    by scripts/make_official_vqa_fixture.py), up to the script's own first step (newlines, tabs and ends), and
    the run's score is the script's: overall and per question."""
    official = json.loads((FIXTURES / "official_vqa" / "official.json").read_text())
    results = json.loads((FIXTURES / "official_vqa" / "results.json").read_text())
    assert not any(re.search("Question|Answer|Short|, ", r["answer"]) for r in results)  # the vqa cut keeps them
    data = official_vqa_data(tmp_path / "data")
    run = mock_run(tmp_path / "run", *ANSWER_QUESTION, "--shots", "0", data_dir=data)
    (path,) = export(run, tmp_path / "out").values()
    exported = {e["question_id"]: e["answer"] for e in json_entries(path, ("question_id", "answer"))}
    scored_by_script = {r["question_id"]: r["answer"].replace("\n", " ").replace("\t", " ").strip() for r in results}
    assert exported == scored_by_script
    lines, rows = run_outputs(run)
    (row,) = rows["vqav2"]
    assert round(row["mean"], 2) == official["accuracy"]["overall"]
    per_question = {r["id"]: round(100 * r["score"], 2) for r in map(json.loads, lines)}
    assert per_question == {int(k): v for k, v in official["evalQA"].items()}


def test_normalised_answers_would_change_the_vqav2_score() -> None:
    """Why the export leaves VQAv2 answers as the metric scored them: the official script compares a raw answer
    where the ten references agree, so a normalised file would score "Yes" against ten "yes" as correct."""
    references = ["yes"] * 10
    assert vqa_accuracy("Yes", references, "vqav2") == 0.0
    assert vqa_accuracy(normalize_answer("Yes"), references, "vqav2") == 1.0


def test_limited_run_and_non_empty_folder_are_refused(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_vizwiz_test(tmp_path / "data")
    run = mock_run(
        tmp_path / "run", "--data-dir", str(data), *ANSWER_QUESTION, "--shots", "0", "--limit", "2", task="vizwiz_test"
    )
    limited = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "out")])
    assert limited.exit_code == 1 and "--limit" in flat(limited.output)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    full = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "full")])
    assert full.exit_code == 2 and "--force" in flat(full.output)
    unknown = CliRunner().invoke(app, ["export", str(run), "--format", "csv", "-o", str(tmp_path / "o")])
    assert unknown.exit_code == 2 and "evalai" in flat(unknown.output)
