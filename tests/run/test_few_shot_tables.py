"""The image benchmarks of the Flamingo and IDEFICS few-shot tables on a tiny model of each family.

TextCaps, NoCaps and VisDial, each on release-format files written by the tests, run through the real CLI
at 0 and 4 shots with the tiny OpenFlamingo, the tiny IDEFICS and a ``make-tiny`` Qwen2-VL, at batch size 1
and 4: every sample scored, 4 image demos in few-shot prompts, and the same predictions at both batch sizes
(rank tasks: the same choice, every score within float noise). ScienceQA, RenderedSST2 and Winoground run
the same check in their own test files (tests/run/test_scienceqa_sst2_tasks.py, test_winoground_task.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import data_writers
import pytest
from typer.testing import CliRunner

from fseval.cli import app

pytestmark = pytest.mark.slow  # tiny real models end to end, 6 runs per task

TASKS = {  # task -> (its writer in data_writers, the --data-dir under what it writes, options)
    "textcaps": ("write_textcaps", "", ()),
    "nocaps": ("write_nocaps", "", ()),  # D holds nocaps/ and coco/ (the demos: COCO Karpathy train)
    "visdial": ("write_visdial", "", ("--limit", "4")),
}
NEEDS_JAVA = {"textcaps", "nocaps"}  # CIDEr through the PTB tokenizer
MODELS = {"openflamingo": "tiny_openflamingo", "idefics": "tiny_idefics", "qwen2_vl": "tiny_qwen2_vl"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    root, written = tmp_path_factory.mktemp("few_shot_tables"), {}

    def get(task: str) -> Path:
        if task not in written:
            writer, under, _ = TASKS[task]
            getattr(data_writers, writer)(root / task)
            written[task] = root / task / under if under else root / task
        return written[task]

    return get


def run(out: Path, task: str, model: Path, data_dir: Path, batch_size: int) -> list[dict[str, Any]]:
    args = ["run", "--task", task, "--shots", "0,4", "--model", str(model), "--data-dir", str(data_dir)]
    args += [*TASKS[task][2], "--device", "cpu", "--batch-size", str(batch_size), "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("task", list(TASKS))
def test_each_table_task_runs_on_each_family_and_batching_changes_nothing(
    task: str, model: str, tmp_path: Path, data: Callable[[str], Path], request: pytest.FixtureRequest
) -> None:
    if task in NEEDS_JAVA and shutil.which("java") is None:
        pytest.skip("CIDEr's PTB tokenizer needs Java")
    path = request.getfixturevalue(MODELS[model])
    one, four = (run(tmp_path / f"b{size}", task, path, data(task), size) for size in (1, 4))
    assert one and all(line["error"] is None for line in one + four), [line["error"] for line in one + four]
    few = [line for line in one if line["shots"] == 4]
    assert few and all(line["prompt"].count("<image>") == len(line["media"]) >= 5 for line in few)
    assert [line["prediction"] for line in one] == [line["prediction"] for line in four]
    if one[0]["scores"] is not None:  # rank tasks: every candidate's score, the same up to float noise
        for a, b in zip(one, four, strict=True):
            assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)
    results = json.loads((tmp_path / "b1" / "results.json").read_text())["results"][task]
    assert [row["shots"] for row in results] == [0, 4] and all(row["n"] > 0 for row in results)
