"""Mistakes found before anything is created or any weights load: one panel, exit 1, no traceback.

Each case here used to surface only after the model had run (minutes to hours on a real model) or
as a raw traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from data_writers import flat, write_karpathy
from typer.testing import CliRunner

from fseval.cli import app
from fseval.run import preflight

runner = CliRunner()
MOCK = ["--model", "mock"]


def refused(tmp_path: Path, *args: str, exit_code: int = 1) -> str:
    """Run, expect a refusal with one panel and no traceback, and nothing created at --output."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", *args, "-o", str(out)])
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output and not out.exists()
    return flat(result.output)


class NeverLoads:
    """A model loader that fails the test if the run gets as far as loading weights."""

    def check(self, config: Any, needs: object = None) -> tuple[str, ...]:
        return ()

    def load(self, config: Any, device: str) -> Any:
        raise AssertionError("the model was loaded before the problem was found")

    def files(self, config: Any) -> dict[str, str]:
        return {}


def test_every_problem_at_once_before_the_model(tmp_path: Path, vqav2_dir: Path, monkeypatch) -> None:
    from fseval.config import RunConfig
    from fseval.errors import FsevalError
    from fseval.metrics import captioning
    from fseval.run.runner import run

    monkeypatch.setattr(captioning.shutil, "which", lambda name: None)  # no Java on PATH
    captions = write_karpathy(tmp_path / "coco")
    config = RunConfig(
        tasks=("vqav2", "coco"),
        model="m",
        shots=(100000,),
        data_dir=str(tmp_path),
        output=tmp_path / "out",
        prompt_ensembles=3,
    )
    assert vqav2_dir == tmp_path / "vqav2" and captions == tmp_path / "coco"  # D/<task> for each task
    with pytest.raises(FsevalError) as error:
        run(config, lambda description, total: lambda n: None, NeverLoads())
    message = str(error.value)
    assert "4 problems" in message and "nothing was created" in message
    assert "--prompt-ensembles" in message and "no java on PATH" in message
    assert "vqav2: 100000 demos per prompt, but its demo split has" in message
    assert "coco: 100000 demos per prompt" in message
    assert not (tmp_path / "out").exists()


def test_shot_counts_larger_than_the_pool(tmp_path: Path, vqav2_dir: Path) -> None:
    message = refused(tmp_path, *MOCK, "--task", "vqav2", "--data-dir", str(vqav2_dir), "--shots", "100000")
    assert "100000 demos per prompt" in message and "use fewer --shots" in message


def test_an_annotation_without_answers_names_the_file_and_the_question(tmp_path: Path, vqav2_dir: Path) -> None:
    path = vqav2_dir / "v2_mscoco_val2014_annotations.json"
    annotations = json.loads(path.read_text())
    annotations["annotations"][0]["answers"] = []
    path.write_text(json.dumps(annotations))
    qid = annotations["annotations"][0]["question_id"]
    message = refused(tmp_path, *MOCK, "--task", "vqav2", "--data-dir", str(vqav2_dir))
    assert "cannot be scored" in message and f"sample {qid}: answers should be a non-empty list, not []" in message


def test_duplicate_question_ids_are_refused(tmp_path: Path, vqav2_dir: Path) -> None:
    for name in ("v2_OpenEnded_mscoco_val2014_questions.json", "v2_mscoco_val2014_annotations.json"):
        path = vqav2_dir / name
        content = json.loads(path.read_text())
        key = "questions" if "questions" in content else "annotations"
        content[key].append(dict(content[key][0]))
        path.write_text(json.dumps(content))
    message = refused(tmp_path, *MOCK, "--task", "vqav2", "--data-dir", str(vqav2_dir))
    assert "appear more than once" in message or "more than once" in message


def test_a_rank_task_with_a_generation_metric_is_refused_when_loaded(tmp_path: Path) -> None:
    from fseval.errors import SpecError
    from fseval.tasks.spec import load_tasks

    text = Path("tasks/hateful_memes.yaml").read_text().replace("metric: roc_auc", "metric: vqa_accuracy")
    (tmp_path / "memes_vqa.yaml").write_text(text.replace("name: hateful_memes", "name: memes_vqa"))
    with pytest.raises(SpecError, match="metric 'vqa_accuracy' scores generated text: it needs mode: generate"):
        load_tasks(["memes_vqa"], [tmp_path])


def test_output_folders_that_cannot_be_written(tmp_path: Path, vqav2_dir: Path, monkeypatch) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    assert preflight.output_problems(existing, resume=False) == []
    monkeypatch.setattr(preflight.os, "access", lambda path, mode: False)  # (tests run as root, who may write)
    assert "is not writable" in preflight.output_problems(existing, resume=False)[0]
    assert "cannot be created" in preflight.output_problems(tmp_path / "new" / "run", resume=False)[0]
    message = refused(tmp_path, *MOCK, "--task", "vqav2", "--data-dir", str(vqav2_dir))
    assert "cannot be created" in message


def test_caption_scoring_writes_its_temporary_files_outside_the_package(monkeypatch) -> None:
    """pycocoevalcap puts the PTB tokenizer's input inside its installed package, which may be read-only."""
    import tempfile

    from pycocoevalcap.tokenizer import ptbtokenizer

    from fseval.metrics.captioning import ptb_tokenize

    used: list[str] = []
    original = tempfile.NamedTemporaryFile

    def recording(**kwargs: Any) -> Any:
        used.append(kwargs.get("dir") or tempfile.gettempdir())
        return original(**kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", recording)
    assert ptb_tokenize({1: ["A dog, running."]}) == {1: ["a dog running"]}
    package = str(Path(ptbtokenizer.__file__).parent)
    assert used and all(not folder.startswith(package) for folder in used)


@pytest.fixture
def broken_model(tmp_path: Path) -> Path:
    from fseval.models.openflamingo import make_tiny

    return make_tiny(tmp_path / "model")


@pytest.mark.parametrize("damage", ["garbage checkpoint", "truncated checkpoint", "truncated vision", "truncated lm"])
def test_damaged_model_files_are_one_panel(tmp_path: Path, broken_model: Path, damage: str) -> None:
    target = {
        "garbage checkpoint": broken_model / "checkpoint.pt",
        "truncated checkpoint": broken_model / "checkpoint.pt",
        "truncated vision": broken_model / "vision" / "fseval-tiny-vit.safetensors",
        "truncated lm": broken_model / "lm" / "model.safetensors",
    }[damage]
    data = target.read_bytes()
    target.write_bytes(b"this is not a checkpoint" if damage == "garbage checkpoint" else data[: len(data) // 2])
    message = refused(tmp_path, "--model", str(broken_model), "--task", "shapes_vqa", "--shots", "0")
    assert str(target) in message and "weights_only=False" not in message


def test_a_damaged_checkpoint_loaded_directly_never_suggests_unsafe_loading(tmp_path: Path, broken_model: Path) -> None:
    from fseval.errors import FsevalError
    from fseval.models.openflamingo.loader import read_checkpoint

    path = broken_model / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(FsevalError) as error:
        read_checkpoint(path)
    assert str(path) in str(error.value) and "weights_only=False" not in str(error.value)


def test_a_malformed_model_card_is_one_panel(tmp_path: Path, broken_model: Path) -> None:
    (broken_model / "fseval-model.json").write_text('{"family": "openflamingo", "args": ')
    message = refused(tmp_path, "--model", str(broken_model), "--task", "shapes_vqa")
    assert "fseval-model.json cannot be read as JSON" in message


def test_a_bad_model_argument_is_named_before_loading(tmp_path: Path) -> None:
    message = refused(tmp_path, *MOCK, "--task", "shapes_vqa", "--model-arg", "mdoe=field")
    assert "mdoe: not an argument of mock (did you mean mode?)" in message


def test_rices_without_local_clip_weights_fails_at_once(tmp_path: Path, vqav2_dir: Path, monkeypatch) -> None:
    from fseval.models import hub

    monkeypatch.setattr(hub, "open_clip_weights", lambda name, tag: None)
    message = refused(tmp_path, *MOCK, "--task", "vqav2", "--data-dir", str(vqav2_dir), "--demos", "rices")
    assert "--demos rices needs the CLIP weights ViT-L-14/openai, which are not on this machine" in message


def test_other_tasks_need_an_explicit_model(tmp_path: Path, vqav2_dir: Path) -> None:
    message = refused(tmp_path, "--task", "vqav2", "--data-dir", str(vqav2_dir), exit_code=2)
    assert "give --model for vqav2" in message and "openflamingo-9b" in message
    assert (
        runner.invoke(
            app, ["run", "--task", "shapes_vqa", "--shots", "0", "--limit", "2", "-o", str(tmp_path / "s")]
        ).exit_code
        == 0
    )


def test_a_missing_tasks_dir_and_unknown_models_are_named(tmp_path: Path) -> None:
    message = refused(tmp_path, *MOCK, "--task", "shapes_vqa", "--tasks-dir", str(tmp_path / "nope"))
    assert "--tasks-dir" in message and "no such folder" in message
    message = refused(tmp_path, "--model", "tiny-shape", "--task", "shapes_vqa")
    assert "Did you mean 'tiny-shapes'" in message


def test_help_texts_survive_rich() -> None:
    result = runner.invoke(app, ["run", "--help"])
    assert "Prompts per model call" in result.output  # --batch-size
    assert '{"sample id": [demo ids]}' in flat(result.output)  # not eaten as Rich markup


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigterm_stops_a_run_like_ctrl_c(tmp_path: Path, vqav2_dir: Path) -> None:
    """Schedulers stop jobs with SIGTERM: the finished samples are kept and the resume command printed."""
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "fseval", "run", *MOCK, "--task", "vqav2", "--shots", "0,4", "--batch-size", "1"]
    command += ["--data-dir", str(vqav2_dir), "-o", str(out), "--model-arg", "terminate_after=3"]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 130, process.stderr
    assert f"fseval run --resume {out}" in flat(process.stdout) and "Traceback" not in process.stderr


def test_resume_says_when_a_run_was_complete_and_can_add_shots(tmp_path: Path, vqav2_dir: Path) -> None:
    out = tmp_path / "run"
    args = ["run", *MOCK, "--task", "vqav2", "--shots", "0", "--data-dir", str(vqav2_dir), "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, ["run", "--resume", str(out)])
    assert again.exit_code == 0 and "The run was complete: nothing new was evaluated" in flat(again.output)
    more = runner.invoke(app, ["run", "--resume", str(out), "--shots", "2", "--trials", "2"])
    assert more.exit_code == 0, more.output
    assert "The run was complete" not in flat(more.output)
    results = json.loads((out / "results.json").read_text())
    assert [row["shots"] for row in results["results"]["vqav2"]] == [0, 2]
    assert all(len(row["trials"]) == 2 for row in results["results"]["vqav2"])
    assert results["config"]["shots"] == [0, 2] and results["config"]["trials"] == 2


def test_java_is_checked_only_for_caption_metrics(tmp_path: Path) -> None:
    from fseval.config import RunConfig
    from fseval.tasks.spec import load_tasks

    config = RunConfig(tasks=("shapes_caption",), model="m", output=tmp_path / "out")
    assert shutil.which("java") is not None  # the test machine has it; preflight finds no problem
    assert preflight.scorer_problems(config, load_tasks(["shapes_caption"])) == []
    assert preflight.scorer_problems(config, load_tasks(["shapes_vqa"])) == []


def test_demos_file_is_checked_before_anything_is_created(tmp_path: Path, vqav2_dir: Path) -> None:
    out = tmp_path / "run"
    args = ["run", *MOCK, "--task", "vqav2", "--shots", "2", "--data-dir", str(vqav2_dir), "-o", str(out)]
    demos = tmp_path / "demos.json"
    cases = {
        "[10, 999]": "demo ids [999] (the shared list) are not in the demo split",
        "[10]": "the shared list lists 1 demo but 2 are needed",
        "[10, ": "cannot be read as JSON",
        '{"10000": [10, 11]}': "has no demos for sample ids",
    }
    for text, expected in cases.items():
        demos.write_text(text)
        result = runner.invoke(app, [*args, "--demos", "fixed", "--demos-file", str(demos)])
        assert result.exit_code == 1 and expected in flat(result.output), result.output
        assert "Loading the model" not in result.output and not out.exists()
    result = runner.invoke(app, [*args, "--demos", "fixed", "--demos-file", str(tmp_path / "none.json")])
    assert result.exit_code == 1 and "does not exist" in flat(result.output) and not out.exists()
    demos.write_text("[10, 11]")
    assert runner.invoke(app, [*args, "--demos", "fixed", "--demos-file", str(demos)]).exit_code == 0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--seed", str(2**64)], "--seed: must be at most 4294967295"),
        (["--seed", "-1"], "--seed: must be 0 or more"),
        (["--seed", str(2**32 - 1), "--trials", "2"], "--seed + --trials - 1 must be at most"),
        (["--task", ","], "give at least one task name"),
        (["--data-dir", "caf\udce9"], "holds bytes that are not UTF-8"),
    ],
)
def test_options_that_cannot_run_are_usage_errors(tmp_path: Path, options: list[str], expected: str) -> None:
    task = [] if "--task" in options else ["--task", "shapes_vqa"]
    result = runner.invoke(app, ["run", *MOCK, *task, *options, "-o", str(tmp_path / "run")])
    assert result.exit_code == 2 and expected in flat(result.output) and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_model_argument_wording(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--model", "openflamingo", "--task", "shapes_vqa", "-o", str(tmp_path / "r")])
    assert result.exit_code == 1 and "lm: required (give --model-arg lm=...)" in flat(result.output)
    assert "Field required" not in result.output


def test_resume_of_a_missing_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--resume", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and f"{tmp_path / 'nowhere'} does not exist" in flat(result.output)


def test_a_tasks_folder_named_by_the_environment_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSEVAL_TASKS_DIR", str(tmp_path / "typo"))
    for args in (["tasks"], ["run", *MOCK, "--task", "shapes_vqa", "-o", str(tmp_path / "run")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and f"$FSEVAL_TASKS_DIR names {tmp_path / 'typo'}: no such folder" in flat(
            result.output
        )


def test_a_missing_tokenizer_file_is_named_before_loading(tmp_path: Path) -> None:
    model = tmp_path / "model"
    assert runner.invoke(app, ["make-tiny", str(model)]).exit_code == 0
    (model / "lm" / "tokenizer.json").unlink()
    (model / "lm" / "tokenizer_config.json").unlink()
    result = runner.invoke(app, ["run", "--model", str(model), "--task", "shapes_vqa", "-o", str(tmp_path / "run")])
    message = flat(result.output)
    assert result.exit_code == 1 and "Loading the model" not in result.output and not (tmp_path / "run").exists()
    assert "tokenizer.json or tokenizer.model" in message and "tokenizer_config.json" in message
