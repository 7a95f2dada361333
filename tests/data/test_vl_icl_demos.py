"""VL-ICL Bench's files and demo rules: fseval's demo sets against the official select_demonstration's.

``tests/fixtures/vl_icl/official.json`` holds, for seeds 0 and 1, every query's demos at 0, 1, 2, 4 and 8
shots as ys-zong/VL-ICL's own code draws them (``scripts/make_vl_icl_fixture.py``, its commit pinned, in a
throwaway environment) from the synthetic release files beside it. fseval replays the same stream and must
give the same demos: images, questions and (remapped) answers, in order.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from vl_icl_writers import ALL, FIXTURES, write_vl_icl

from fseval.cli import app
from fseval.errors import DataError, FsevalError
from fseval.tasks.prompts import render
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import TaskData, load_task_data
from fseval.types import Sample

OFFICIAL = json.loads((FIXTURES / "official.json").read_text())


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_vl_icl(tmp_path_factory.mktemp("vl_icl") / "VL-ICL")


def task_data(dataset: str, root: Path) -> TaskData:
    (task,) = load_tasks([f"vl_icl_{dataset}"])
    return load_task_data(task, str(root))


def as_official(demo: Sample, root: Path) -> dict[str, Any]:
    """A demo as the official code holds it: image paths relative to the release root, question, answer."""
    assert all(ref.path is not None for ref in demo.media)
    images = [ref.path.relative_to(root).as_posix() for ref in demo.media if ref.path is not None]
    return {"image": images, "question": demo.fields["question"], "answer": demo.fields["answer"]}


@pytest.mark.parametrize("dataset", ALL)
def test_demo_sets_equal_the_official_select_demonstration(dataset: str, release: Path) -> None:
    data = task_data(dataset, release)
    assert data.demo_source is not None
    for seed, per_dataset in OFFICIAL["seeds"].items():
        for shots, official in per_dataset[dataset].items():
            drawn = data.demo_source.demos(int(seed), int(shots))
            ours = [[as_official(d, release) for d in drawn[str(query.id)]] for query in data.eval]
            assert ours == official, (dataset, seed, shots)


def test_any_shot_count_keeps_the_official_draws_of_the_others(release: Path) -> None:
    """3 shots is drawn after 0, 1 and 2 (as ``--n_shot 0 1 2 3 4 8`` would), and asking for it changes no other."""
    data = task_data("open_mi", release)
    assert data.demo_source is not None
    three = data.demo_source.demos(0, 3)
    fresh = task_data("open_mi", release).demo_source
    assert fresh is not None
    assert fresh.demos(0, 3) == three and all(len(demos) == 6 for demos in three.values())
    assert [[d.id for d in fresh.demos(0, 4)[str(q.id)]] for q in data.eval] == [
        [d.id for d in data.demo_source.demos(0, 4)[str(q.id)]] for q in data.eval
    ]


def test_prompt_is_the_official_openflamingo_prompt(release: Path) -> None:
    """utils/model_inference.py's OpenFlamingo branch, assembled here from the official demos of the fixture."""
    (task,) = load_tasks(["vl_icl_operator_induction"])
    task = task.with_instruction("detailed")
    data = load_task_data(task, str(release))
    assert data.demo_source is not None
    query = data.eval[2]
    demos = list(data.demo_source.demos(0, 2)[str(query.id)])
    text, media = render(task.prompt, demos, query, True, task.preamble)
    official = OFFICIAL["seeds"]["0"]["operator_induction"]["2"][2]
    expected = task.prompt.instructions["detailed"] + "\n"
    for demo in official:
        expected += "<image>" * len(demo["image"]) + f"{demo['question']}\nAnswer: {demo['answer']}<|endofchunk|>"
    expected += "<image>" + f"{query.fields['question']}\nAnswer:"
    assert text == expected
    assert [ref.path.relative_to(release).as_posix() for ref in media if ref.path] == [
        *(image for demo in official for image in demo["image"]),
        *json.loads((release / "operator_induction" / "query.json").read_text())[2]["image"],
    ]
    bare = load_tasks(["vl_icl_operator_induction"])[0]  # instruction "nothing": a bare newline first
    bare_text, _ = render(bare.prompt, [], query, True, bare.preamble)
    assert bare_text == "\n<image>" + query.fields["question"] + "\nAnswer:"


def test_instruction_levels_are_checked() -> None:
    (task,) = load_tasks(["vl_icl_textocr"])
    assert list(task.prompt.instructions) == ["nothing", "concise", "detailed"]
    assert task.with_instruction("concise").preamble == "Answer with the text inside the red box.\n"
    with pytest.raises(FsevalError, match="has the instruction levels nothing, concise, detailed"):
        task.with_instruction("verbose")
    (vqa,) = load_tasks(["vqav2"])
    with pytest.raises(FsevalError, match="no instruction levels"):
        vqa.with_instruction("concise")


def copy_release(release: Path, target: Path, dataset: str) -> Path:
    shutil.copytree(release / dataset, target / dataset)
    return target


def test_bad_records_name_the_file_and_record(release: Path, tmp_path: Path) -> None:
    root = copy_release(release, tmp_path / "VL-ICL", "operator_induction")
    whole = task_data("operator_induction", root).demo_source
    assert whole is not None
    with pytest.raises(DataError, match=r"support\.json has 11 records, fewer than the 40 shots"):
        whole.demos(0, 40)
    queries = json.loads((root / "operator_induction" / "query.json").read_text())
    queries[1]["operator"] = "/"
    (root / "operator_induction" / "query.json").write_text(json.dumps(queries))
    data = task_data("operator_induction", root)
    assert data.demo_source is not None
    with pytest.raises(DataError, match=r"query.json: record 1 field 'operator' is '/'"):
        data.demo_source.demos(0, 1)
    del queries[0]["question"]
    (root / "operator_induction" / "query.json").write_text(json.dumps(queries))
    with pytest.raises(DataError, match=r"record 0 has no field 'question'"):
        task_data("operator_induction", root)


def test_open_mi_without_enough_support_images_says_which(release: Path, tmp_path: Path) -> None:
    root = copy_release(release, tmp_path / "VL-ICL", "open_mi")
    queries = json.loads((root / "open_mi" / "query.json").read_text())
    own = queries[0]["answer"]
    queries[0]["support"][own]["images"] = queries[0]["support"][own]["images"][:2]
    (root / "open_mi" / "query.json").write_text(json.dumps(queries))
    data = task_data("open_mi", root)
    assert data.demo_source is not None
    assert len(data.demo_source.demos(0, 2)["0"]) == 4
    with pytest.raises(DataError, match=f"record 0 has no support image 2 for class '{own}'"):
        data.demo_source.demos(0, 4)


LISTED_TASK = """name: listed_demos
description: a benchmark whose files fix each query's demos
prompt: vl_icl_textocr
metric: vl_icl_exact_match
generation: {max_new_tokens: 4, num_beams: 1}
shots: [0, 2]
zero_shot_text_demos: 0
data:
  source: these test files
  eval:
    - format: vl_icl_json
      folder: listed
      draw: listed
"""


def test_listed_demos_need_only_files(tmp_path: Path, mock_run: Any) -> None:
    """A benchmark whose query records list their demos per shot count runs from a task file and its data alone."""
    from PIL import Image

    root = tmp_path / "data"
    (root / "listed").mkdir(parents=True)
    for name in ("q0", "q1", "d0", "d1", "d2"):
        Image.new("RGB", (8, 8), (len(name) * 40, 0, 0)).save(root / "listed" / f"{name}.png")

    def record(name: str, answer: str) -> dict[str, Any]:
        return {"image": [f"listed/{name}.png"], "question": f"What does {name} say?", "answer": answer}

    two = {"2": [record("d1", "one"), record("d0", "zero")]}
    queries = [
        {**record("q0", "stop"), "demos": two},
        {**record("q1", "go"), "demos": {"2": [record("d2", "two")] * 2}},
    ]
    (root / "listed" / "query.json").write_text(json.dumps(queries))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "listed_demos.yaml").write_text(LISTED_TASK)
    out = mock_run(tmp_path / "run", "--tasks-dir", str(tasks), "--data-dir", str(root), task="listed_demos")
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    few = [line for line in lines if line["shots"] == 2]
    assert [line["demo_ids"] for line in few] == [["0:2:0", "0:2:1"], ["1:2:0", "1:2:1"]]
    assert few[0]["prompt"] == (
        "\n<image>What does d1 say?\nAnswer: one<|endofchunk|><image>What does d0 say?\nAnswer: zero<|endofchunk|>"
        "<image>What does q0 say?\nAnswer:"
    )
    assert [Path(key).name for key in few[0]["media"]] == ["d1.png", "d0.png", "q0.png"]
    assert all(line["demo_ids"] == [] for line in lines if line["shots"] == 0)
    (tasks / "listed_demos.yaml").write_text(LISTED_TASK.replace("[0, 2]", "[0, 4]"))
    result = CliRunner().invoke(
        app, ["run", "--model", "mock", "--task", "listed_demos", "--tasks-dir", str(tasks), "--data-dir", str(root)]
    )
    assert result.exit_code == 1
    assert "record 0 field 'demos' lists no demos for 4 shots (it lists: 2)" in " ".join(result.output.split())


def test_a_resumed_run_extended_to_more_shots_keeps_the_official_demos(release: Path, tmp_path: Path) -> None:
    """--resume --shots adds 4 shots to a 0,2-shot run: the stored rows stay, the new ones are the official draws."""
    base = ["run", "--model", "mock", "--task", "vl_icl_matching_mi", "--data-dir", str(release), "--seed", "1"]
    out = tmp_path / "run"
    first = CliRunner().invoke(app, [*base, "--shots", "0,2", "-o", str(out)])
    assert first.exit_code == 0, first.output
    before = (out / "samples.jsonl").read_text().splitlines()
    resumed = CliRunner().invoke(app, ["run", "--resume", str(out), "--shots", "0,2,4"])
    assert resumed.exit_code == 0, resumed.output
    after = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [json.dumps(line) for line in after if line["shots"] < 4] == [
        json.dumps(json.loads(line)) for line in before
    ]
    four = [line for line in after if line["shots"] == 4]
    assert [[Path(key).relative_to(release).as_posix() for key in line["media"][:-2]] for line in four] == [
        [image for demo in demos for image in demo["image"]] for demos in OFFICIAL["seeds"]["1"]["matching_mi"]["4"]
    ]
    shown = CliRunner().invoke(app, ["show", str(out)])
    assert "demos: random (vl_icl_matching_mi: as their data sets them)" in " ".join(shown.output.split())
