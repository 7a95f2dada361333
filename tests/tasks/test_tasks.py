"""Every task and prompt file validates; bad files are rejected naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from fseval.errors import SpecError, UnknownNameError
from fseval.tasks.spec import all_tasks, load_tasks

MINIMAL = """\
name: {name}
description: test
prompt: vqa
metric: vqa_accuracy
postprocess: vqa
data:
  source: nowhere
  eval:
    - format: vqa_json
      questions: q.json
      images: "{{image_id}}.jpg"
"""


def test_all_builtin_tasks_validate() -> None:
    names = {task.name for task in all_tasks()}
    assert {"vqav2", "okvqa", "textvqa", "vizwiz", "shapes_vqa"} <= names


def write_task(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(text)
    return directory


def test_user_tasks_dir_adds_tasks(tmp_path: Path) -> None:
    directory = write_task(tmp_path, "mine", MINIMAL.format(name="mine"))
    (task,) = load_tasks(["mine"], [directory])
    assert task.spec.generation.num_beams == 3
    assert task.path == directory / "mine.yaml"


def test_env_var_adds_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSEVAL_TASKS_DIR", str(write_task(tmp_path, "envtask", MINIMAL.format(name="envtask"))))
    assert load_tasks(["envtask"])[0].name == "envtask"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("colour: red\n", "field 'colour': Extra inputs are not permitted"),
        ("generation: {num_beams: 0}\n", "field 'generation.num_beams'"),
        ("generation: {beams: 3}\n", "field 'generation.beams'"),
        ("shots: [-1]\n", "field 'shots'"),
        ("mode: sing\n", "field 'mode'"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, change: str, message: str) -> None:
    directory = write_task(tmp_path, "bad", MINIMAL.format(name="bad") + change)
    with pytest.raises(SpecError) as info:
        load_tasks(["bad"], [directory])
    assert str(directory / "bad.yaml") in str(info.value)
    assert message in str(info.value)


def test_unknown_metric_and_layout_field(tmp_path: Path) -> None:
    text = MINIMAL.format(name="bad").replace("metric: vqa_accuracy", "metric: vqa_acc")
    with pytest.raises(SpecError, match=r"Unknown metric 'vqa_acc'\. Did you mean 'vqa_accuracy'"):
        load_tasks(["bad"], [write_task(tmp_path, "bad", text)])
    text = MINIMAL.format(name="bad2").replace("questions: q.json", "file: q.json")
    with pytest.raises(SpecError) as info:  # the format's own fields: the missing one, the one it does not take
        load_tasks(["bad2"], [write_task(tmp_path, "bad2", text)])
    assert "'data.eval.0.vqa_json.questions': Field required" in str(info.value)
    assert "'data.eval.0.vqa_json.file': Extra inputs are not permitted" in str(info.value)


def test_name_must_match_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="must equal the file name 'other'"):
        load_tasks(["other"], [write_task(tmp_path, "other", MINIMAL.format(name="mine"))])


def test_unknown_task_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'vqav2'"):
        load_tasks(["vqa2"])


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_tasks(["vqa2", "okvqa", "nope"])
    assert "'vqa2'" in str(info.value) and "'nope'" in str(info.value)


@pytest.mark.parametrize(
    ("query", "metric", "message"),
    [
        ("Question:{question} Short answer:", "vqa_accuracy", "has 0 <image> markers, but each sample has 1"),
        ("<image>Question:{answers[20]} Short answer:", "vqa_accuracy", "indexes past the end of a list field"),
        ("<image>Question:{question} Short answer:", "exact_match", "read 'answer', which the samples do not have"),
    ],
)
def test_task_and_data_mismatches_stop_the_run_before_the_model(
    tmp_path: Path, vqav2_dir: Path, query: str, metric: str, message: str
) -> None:
    import yaml
    from data_writers import flat
    from typer.testing import CliRunner

    from fseval.cli import app

    tasks = tmp_path / "tasks"
    (tasks / "prompts").mkdir(parents=True)
    demo = "<image>Question:{question} Short answer:{answers[0]}<|endofchunk|>"
    (tasks / "prompts" / "mine.yaml").write_text(yaml.safe_dump({"demo": demo, "query": query}))
    spec = yaml.safe_load(load_tasks(["vqav2"])[0].path.read_text())
    spec |= {"name": "mine", "prompt": "mine", "metric": metric}
    spec.pop("metric_variant")
    (tasks / "mine.yaml").write_text(yaml.safe_dump(spec))
    args = ["run", "--task", "mine", "--tasks-dir", str(tasks), "--data-dir", str(vqav2_dir), "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*args, "--model", "mock"])
    assert result.exit_code == 1 and message in flat(result.output), result.output
    assert not (tmp_path / "o").exists()  # found before any model or run directory


def test_a_broken_file_is_named_once_and_does_not_hide_the_other_tasks(tmp_path: Path) -> None:
    from data_writers import flat
    from typer.testing import CliRunner

    from fseval.cli import app

    directory = write_task(tmp_path, "broken", "name: broken\ndescription: [unclosed\n")
    with pytest.raises(SpecError) as error:
        load_tasks(["broken"], [directory])
    assert str(error.value).count(str(directory / "broken.yaml")) == 1
    result = CliRunner().invoke(app, ["tasks", "--tasks-dir", str(directory)])
    assert result.exit_code == 0 and "vqav2" in result.output and "not listed:" in flat(result.output)
