"""End-to-end runs of the real CLI on tiny datasets in the original formats, with the mock model."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from data_writers import VAL_QA, flat, write_vqav2
from typer.testing import CliRunner

from fseval.cli import app
from fseval.metrics.vqa import vqa_accuracy

runner = CliRunner()
MockRun = Callable[..., Path]  # the conftest fixture


def fseval(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


def samples(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "samples.jsonl").read_text().splitlines()]


def openflamingo_vqa_prompt(question: str, answer: str | None = None) -> str:
    # OpenFlamingo's get_vqa_prompt, written out independently of fseval's prompt files.
    return f"<image>Question:{question} Short answer:{answer if answer is not None else ''}" + (
        "<|endofchunk|>" if answer is not None else ""
    )


def test_run_writes_results_and_samples(tmp_path: Path, vqav2_dir: Path, mock_run: MockRun) -> None:
    out = mock_run(tmp_path / "run", "--shots", "0,4", "--model-arg", "mode=copy-demo")
    results = json.loads((out / "results.json").read_text())
    rows = results["results"]["vqav2"]
    assert [r["shots"] for r in rows] == [0, 4]
    assert results["model"]["family"] == "mock" and results["config"]["seed"] == 42
    lines = samples(out)
    assert len(lines) == 2 * len(VAL_QA)

    questions = json.loads((vqav2_dir / "v2_OpenEnded_mscoco_train2014_questions.json").read_text())["questions"]
    annotations = json.loads((vqav2_dir / "v2_mscoco_train2014_annotations.json").read_text())["annotations"]
    answers = {a["question_id"]: a["answers"][0]["answer"] for a in annotations}
    question_text = {q["question_id"]: q["question"] for q in questions}
    val_question = {s["id"]: q for s, (q, _) in zip(lines, VAL_QA, strict=False)}
    for line in lines:
        context = "".join(openflamingo_vqa_prompt(question_text[d], answers[d]) + "\n" for d in line["demo_ids"])
        if line["shots"] == 0:
            assert len(line["demo_ids"]) == 2
            context = context.replace("<image>", "")
            assert len(line["media"]) == 1
        else:
            assert len(line["demo_ids"]) == line["shots"] == len(line["media"]) - 1
        assert line["prompt"] == context + openflamingo_vqa_prompt(val_question[line["id"]])
    for row in rows:
        scores = [line["score"] for line in lines if line["shots"] == row["shots"]]
        assert row["mean"] == pytest.approx(100 * statistics.fmean(scores), abs=1e-9)
        assert row["n"] == len(VAL_QA) and row["failed"] == 0


def test_majority_mock_scores_exactly(tmp_path: Path, mock_run: MockRun) -> None:
    out = mock_run(tmp_path / "run", "--shots", "4", "--model-arg", "mode=majority")
    majority = [Counter(a).most_common(1)[0][0] for _, a in VAL_QA]
    expected = [vqa_accuracy(m, a) for m, (_, a) in zip(majority, VAL_QA, strict=True)]
    assert [line["prediction"] for line in samples(out)] == majority
    assert [line["score"] for line in samples(out)] == expected
    mean = json.loads((out / "results.json").read_text())["results"]["vqav2"][0]["mean"]
    assert mean == pytest.approx(100 * sum(expected) / len(expected))


def test_postprocessing_applies_to_generations(tmp_path: Path, mock_run: MockRun) -> None:
    out = mock_run(tmp_path / "run", "--shots", "0", "--model-arg", "suffix=, maybe Question: x")
    line = samples(out)[0]
    assert line["generation"] == "red, maybe Question: x" and line["prediction"] == "red"


def test_same_seed_same_results_and_batch_size_invariance(tmp_path: Path, mock_run: MockRun) -> None:
    args = ("--shots", "0,4", "--model-arg", "mode=copy-demo", "--trials", "2")
    a = samples(mock_run(tmp_path / "a", *args, "--batch-size", "1"))
    b = samples(mock_run(tmp_path / "b", *args, "--batch-size", "4"))
    assert a == b
    other_seed = samples(mock_run(tmp_path / "c", *args, "--seed", "7"))
    assert [line["demo_ids"] for line in other_seed] != [line["demo_ids"] for line in a]


def test_limit_and_trials(tmp_path: Path, mock_run: MockRun) -> None:
    out = mock_run(tmp_path / "run", "--shots", "2", "--limit", "3", "--trials", "3", "--model-arg", "mode=copy-demo")
    (row,) = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    assert row["seeds"] == [42, 43, 44] and len(row["trials"]) == 3 and row["n"] == 3
    assert row["stddev"] == pytest.approx(statistics.pstdev(row["trials"]))


def test_table_shows_spread_only_over_several_trials() -> None:
    from rich.console import Console

    from fseval.record import ResultRow
    from fseval.reports.display import results_table

    def shown(trials: list[float]) -> str:
        row = {"shots": 4, "metric": "vqa_accuracy", "metric_variant": "vqav2", "mean": statistics.mean(trials)}
        row |= {"stddev": statistics.pstdev(trials), "ci95": [40.0, 60.0], "n": 9, "failed": 0, "trials": trials}
        console = Console(width=80, record=True)
        console.print(results_table({"vqav2": [ResultRow.model_validate(row)]}))
        return console.export_text()

    assert "score" in shown([50.0]) and "±" not in shown([50.0])
    assert "mean ± std" in shown([40.0, 60.0]) and "50.00 ± 10.00" in shown([40.0, 60.0])


def test_corrupt_image_is_recorded_and_the_run_goes_on(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_vqav2(tmp_path / "data", corrupt_image_id=1001)
    out = mock_run(tmp_path / "run", "--shots", "0", data_dir=data)
    lines = samples(out)
    failed = [line for line in lines if line["error"]]
    assert len(failed) == 3 and all("cannot decode image" in line["error"] for line in failed)
    assert all(line["score"] is None for line in failed)
    (row,) = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    assert row["failed"] == 3 and row["n"] == len(VAL_QA) - 3

    trials = mock_run(tmp_path / "trials", "--shots", "0", "--trials", "3", data_dir=data)
    (row,) = json.loads((trials / "results.json").read_text())["results"]["vqav2"]
    assert (row["n"], row["failed"]) == (len(VAL_QA) - 3, 3)  # per trial, not summed over the trials
    assert row["n_per_trial"] == [len(VAL_QA) - 3] * 3 and row["failed_per_trial"] == [3] * 3


def test_a_shot_count_whose_every_sample_fails_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    data = write_vqav2(tmp_path / "data")
    for image in (data / "val2014").iterdir():
        image.write_bytes(b"not a jpeg")
    out = tmp_path / "run"
    result = fseval(
        "run", "--model", "mock", "--task", "vqav2", "--data-dir", str(data), "-o", str(out), "--shots", "0,2"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    assert [(r["n"], r["failed"]) for r in rows] == [(0, len(VAL_QA))] * 2
    assert all(math.isnan(r["mean"]) and math.isnan(r["stddev"]) for r in rows)
    assert "vqav2 at 2 shots: every sample failed" in flat(result.output) and "cannot decode image" in result.output
    baseline = fseval("check", str(out), "--write-baseline", str(tmp_path / "baseline.json"))
    assert baseline.exit_code == 1 and "has no score for vqav2 at 0 shots, vqav2 at 2 shots" in flat(baseline.output)


def test_user_errors_are_one_panel_and_exit_1(tmp_path: Path) -> None:
    result = fseval("run", "--task", "vqav2", "--model", "mock", "--data-dir", str(tmp_path), "-o", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "fseval: error" in result.output and "v2_OpenEnded_mscoco_val2014_questions.json" in result.output
    assert "Traceback" not in result.output
    result = fseval("run", "--task", "vqa2")
    assert result.exit_code == 1 and "Did you mean 'vqav2'" in result.output
    assert fseval("run", "--task", "vqav2", "--shots", "four").exit_code == 2
    assert "at least one shot count" in flat(fseval("run", "--task", "vqav2", "--shots", "").output)


def test_shot_counts_are_deduplicated() -> None:
    from fseval.cli import parse_shots

    assert parse_shots("4,0,4, 8,0") == (4, 0, 8)


def test_device_is_checked_before_any_weights_move(tmp_path: Path) -> None:
    result = fseval("run", "--task", "shapes_vqa", "--device", "gpu")
    assert result.exit_code == 2 and "'gpu' is not a device" in result.output
    import torch

    if torch.cuda.is_available():
        pytest.skip("this check is about a machine without CUDA")
    result = fseval("run", "--task", "shapes_vqa", "--device", "cuda:0", "--output", str(tmp_path / "o"))
    assert result.exit_code == 1 and "torch sees no CUDA device" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_score_matches_per_sample_metric(tmp_path: Path, vqav2_dir: Path) -> None:
    predictions = [{"question_id": s, "answer": a} for s, a in [(10000, "Red"), (10001, "two"), (10002, "yes")]]
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions))
    expected = [vqa_accuracy(p["answer"], a) for p, (_, a) in zip(predictions, VAL_QA, strict=False)]
    result = fseval("score", "--task", "vqav2", "--predictions", str(path), "--data-dir", str(vqav2_dir), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 3 and report["missing"] == 3 and report["metric_variant"] == "vqav2"
    assert report["metrics"]["vqa_accuracy"] == pytest.approx(100 * sum(expected) / 3)
    assert expected[0] == 0.0  # "Red" against ten "red": the official script does not normalise
    result = fseval(
        "score", "--task", "vqav2", "--predictions", str(path), "--data-dir", str(vqav2_dir), "--json",
        "--metric-variant", "openflamingo",
    )  # fmt: skip
    assert json.loads(result.output)["metrics"]["vqa_accuracy"] > report["metrics"]["vqa_accuracy"]


def test_score_needs_only_the_evaluation_questions_and_annotations(tmp_path: Path, vqav2_dir: Path) -> None:
    for path in vqav2_dir.glob("*train2014*.json"):
        path.unlink()
    questions_path = vqav2_dir / "v2_OpenEnded_mscoco_val2014_questions.json"
    questions = json.loads(questions_path.read_text())
    for q in questions["questions"]:
        q["image_id"] = f"img{q['image_id']}"  # not formattable as {image_id:012d}: images are not needed
    questions_path.write_text(json.dumps(questions))
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"question_id": 10000, "answer": "red"}]))
    result = fseval("score", "--task", "vqav2", "--predictions", str(path), "--data-dir", str(vqav2_dir), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["vqa_accuracy"] == 100.0
    result = fseval(
        "run", "--task", "vqav2", "--model", "mock", "--data-dir", str(vqav2_dir), "-o", str(tmp_path / "o")
    )
    assert result.exit_code == 1 and "train2014" in result.output


def test_score_rejects_unknown_ids_and_duplicates(tmp_path: Path, vqav2_dir: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"question_id": 5, "answer": "x"}]))
    result = fseval("score", "--task", "vqav2", "--predictions", str(path), "--data-dir", str(vqav2_dir))
    assert result.exit_code == 1 and "not in vqav2's evaluation split" in result.output
    path.write_text(json.dumps([{"question_id": 10000, "answer": "x"}] * 2))
    result = fseval("score", "--task", "vqav2", "--predictions", str(path), "--data-dir", str(vqav2_dir))
    assert result.exit_code == 1 and "more than once" in result.output


def test_embedded_default_runs_without_data_dir(tmp_path: Path) -> None:
    result = fseval("run", "--task", "shapes_vqa", "--shots", "0,4", "--output", str(tmp_path / "r"), "--limit", "6")
    assert result.exit_code == 0, result.output
    assert "shapes_vqa" in result.output
    model = json.loads((tmp_path / "r" / "results.json").read_text())["model"]
    assert model["family"] == "openflamingo"  # the bundled tiny-shapes model is the default


def test_tasks_models_and_version() -> None:
    assert "vqav2" in fseval("tasks").output
    shown = fseval("tasks", "show", "textvqa").output
    assert "TextVQA_0.5.1_val.json" in shown and "val_questions_vqa_format.json" in shown
    assert "num_beams=3" in shown and "ranking" not in shown
    shown = flat(fseval("tasks", "show", "imagenet").output)
    assert "candidates: 1000 names from imagenet_classnames.txt; score: mean token" in shown
    assert "num_beams" not in shown  # a rank task generates nothing
    assert "mock" in fseval("models").output
    assert fseval("--version").output.startswith("fseval ")


@pytest.mark.subprocess
def test_help_does_not_import_torch() -> None:
    code = "import sys; from fseval.cli import app; from typer.testing import CliRunner; "
    code += "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_metric_variant_applies_to_the_tasks_whose_metric_has_it(tmp_path: Path) -> None:
    from data_writers import write_hateful_memes

    data = tmp_path / "data"
    write_vqav2(data / "vqav2")
    write_hateful_memes(data / "hateful_memes")
    args = ["run", "--model", "mock", "--task", "vqav2,hateful_memes", "--data-dir", str(data), "--shots", "0"]
    result = fseval(*args, "--metric-variant", "openflamingo", "-o", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert results["vqav2"][0]["metric_variant"] == "openflamingo"
    assert results["hateful_memes"][0]["metric_variant"] == "default"
    result = fseval(*args, "--metric-variant", "nope")
    assert result.exit_code == 1 and "No metric of vqav2, hateful_memes has a variant 'nope'" in flat(result.output)


def every_command(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(group, "commands"):  # a group (Typer ships its own copy of click's classes)
        for name, command in group.commands.items():
            found += every_command(command, (*path, name))
    return found


def test_help_reads_as_value_names_and_fits_80_columns() -> None:
    import re

    import typer

    commands = every_command(typer.main.get_command(app))
    assert ("run",) in commands and ("tasks", "show") in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], terminal_width=80)
        assert result.exit_code == 0, command
        lines = result.output.splitlines()
        assert max(map(len, lines)) <= 80, (command, max(lines, key=len))
        python_types = re.findall(r"<(?:bool|str|int|float|path|list\[[^>]*\]|[a-z]+ range)>", result.output)
        assert not python_types, (command, python_types)
        assert "…" not in result.output, command  # no option name cut short
    run_help = runner.invoke(app, ["run", "--help"], terminal_width=80).output
    for shown in ("-t, --task TASK", "--limit N", "-o, --output DIR", "--model-arg KEY=VALUE", "--resume RUN_DIR"):
        assert shown in run_help, shown


def test_run_options_take_their_defaults_from_run_config() -> None:
    """RunConfig is the one holder of defaults: every fseval run option that is a RunConfig field agrees with it."""
    import typer

    from fseval.config import RunConfig

    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    defaults = RunConfig.defaults()
    fields = {"task": "tasks", "model_arg": "model_args", "tasks_dir": "tasks_dirs"}
    compared = []
    for param in command.params:
        name = fields.get(param.name, param.name)
        if name in RunConfig.model_fields and name in defaults and name not in ("model_args", "tasks_dirs"):
            assert param.default == defaults[name], (param.name, param.default, defaults[name])
            compared.append(name)
    assert {"device", "seed", "batch_size", "precision", "demos", "model", "trials"} <= set(compared)
    # Options a run keeps but RunConfig does not hold are the command's own (how to show, resume, log).
    own = {p.name for p in command.params if fields.get(p.name, p.name) not in RunConfig.model_fields}
    assert own == {"resume", "breakdown", "log_to"}, own


def test_make_tiny_offers_what_each_family_declares() -> None:
    """make-tiny's choices are the families' TinyModels declarations, and each names what its builder knows."""
    from fseval.models.hf_vlm.settings import TINY_ARCHITECTURES
    from fseval.models.hf_vlm.tiny import BUILDERS
    from fseval.models.openflamingo.settings import TINY_LM_FAMILIES
    from fseval.models.openflamingo.tiny import _TINY_LM

    assert set(TINY_LM_FAMILIES) == set(_TINY_LM) and set(TINY_ARCHITECTURES) == set(BUILDERS)
    for args, message in (
        (["--family", "hf_vlm", "--lm", "mpt"], "--lm does not apply to --family hf_vlm"),
        (["--lm", "bert"], "--lm 'bert': one of gpt_neox, mpt"),
        (["--family", "nope"], "Unknown make-tiny family 'nope'"),
    ):
        result = runner.invoke(app, ["make-tiny", "never-written", *args])
        assert result.exit_code == 1 and message in flat(result.output), result.output
    assert not Path("never-written").exists()
