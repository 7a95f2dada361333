"""VisDial end to end: release-format files, prompts with the dialog so far, the challenge's ranks file, bad files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from data_writers import flat, write_visdial
from run_helpers import MockRun
from typer.testing import CliRunner

from fseval.cli import app

runner = CliRunner()
ORACLE = ("--model-arg", "mode=field", "--model-arg", "field=answer")


def lines_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_oracle_run_at_0_and_4_shots(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_visdial(tmp_path / "visdial")
    out = mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0,4", *ORACLE, task="visdial")
    results = json.loads((out / "results.json").read_text())["results"]["visdial"]
    relevant = 1 + 0.4 / math.log2(3)  # the answer and one option of relevance 0.4, ranked 2nd or lower
    for trial in results:
        assert trial["n"] == 9 and trial["extra"]["R@1"] == 100.0 and trial["extra"]["mean rank"] == 1.0
        assert trial["extra"]["NDCG rounds"] == 2
        assert trial["mean"] == pytest.approx(100 / relevant)
    lines = lines_of(out)
    assert [line["id"] for line in lines if line["shots"] == 0][:4] == ["101_1", "101_2", "101_3", "102_1"]
    third = next(line for line in lines if line["shots"] == 4 and line["id"] == "101_3")
    assert third["prompt"].endswith(
        "<image>a picture of scene 101. Question:what is thing 0? Answer:yes. "
        "Question:what is thing 1? Answer:no. Question:what is thing 2? Answer:"
    )
    assert third["prompt"].count("<image>") == 5 and len(third["scores"]) == 100
    assert set(third["demo_ids"]) <= {f"{i}_3" for i in range(1, 6)}  # train dialogs, read at round 3
    assert any("val2014/COCO_val2014_000000000003.jpg" in m for line in lines for m in line["media"])
    zero = next(line for line in lines if line["shots"] == 0 and line["id"] == "101_1")
    assert zero["prompt"].count("<image>") == 1 and zero["targets"]["gt_relevance"] is not None
    rescored = runner.invoke(
        app, ["score", "--task", "visdial", "--data-dir", str(data), "--predictions", str(out), "--json"]
    )
    assert rescored.exit_code == 0, rescored.output
    assert [trial["metrics"]["visdial"] for trial in json.loads(rescored.output)] == [r["mean"] for r in results]


def test_batch_size_does_not_change_the_scores(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_visdial(tmp_path / "visdial")
    runs = [
        mock_run(tmp_path / f"b{size}", "--data-dir", str(data), "--shots", "4", "--batch-size", size, task="visdial")
        for size in ("1", "4")
    ]
    keys = ("id", "prompt", "scores", "score")
    one, four = ([{k: line[k] for k in keys} for line in lines_of(out)] for out in runs)
    assert one == four


@pytest.mark.slow
def test_tiny_openflamingo_at_0_and_4_shots(tmp_path: Path, tiny_openflamingo: Path) -> None:
    data = write_visdial(tmp_path / "visdial")
    outs = []
    for size in ("1", "4"):
        out = tmp_path / f"run{size}"
        args = ["run", "--model", str(tiny_openflamingo), "--task", "visdial", "--data-dir", str(data)]
        result = runner.invoke(
            app, [*args, "--shots", "0,4", "--limit", "4", "--batch-size", size, "--device", "cpu", "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        outs.append(lines_of(out))
    assert len(outs[0]) == 8 and all(len(line["scores"]) == 100 and not line["error"] for line in outs[0])
    for a, b in zip(*outs, strict=True):
        assert a["id"] == b["id"] and a["scores"] == pytest.approx(b["scores"], abs=1e-4)


def submission(gt_rank: int, gt_index: int) -> list[int]:
    """Ranks of 100 options: the answer at ``gt_rank``, the others in option order around it."""
    others = iter(r for r in range(1, 101) if r != gt_rank)
    return [gt_rank if j == gt_index else next(others) for j in range(100)]


def test_score_reads_the_challenge_ranks_file(tmp_path: Path) -> None:
    data = write_visdial(tmp_path / "visdial")
    val = json.loads((data / "visdial_1.0_val.json").read_text())["data"]["dialogs"]
    records = [
        {"image_id": d["image_id"], "round_id": r, "ranks": submission(r, turn["gt_index"])}
        for d in val
        for r, turn in enumerate(d["dialog"], start=1)
    ]
    path = tmp_path / "ranks.json"
    path.write_text(json.dumps(records))
    result = runner.invoke(
        app, ["score", "--task", "visdial", "--data-dir", str(data), "--predictions", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    metrics = scored["metrics"]
    assert scored["n"] == 9
    assert metrics["R@1"] == pytest.approx(100 / 3) and metrics["R@5"] == 100.0
    assert metrics["MRR"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 3) / 3) and metrics["mean rank"] == 2.0
    # 101 round 1: the answer first, option 0 (relevance 0) second; 102 round 2: option 0 first, the answer second.
    best = 1 + 0.4 / math.log2(3)
    assert metrics["visdial"] == pytest.approx(100 * (1 / best + (1 / math.log2(3)) / best) / 2)


def test_score_refuses_ranks_that_are_not_a_permutation(tmp_path: Path) -> None:
    data = write_visdial(tmp_path / "visdial")
    path = tmp_path / "ranks.json"
    path.write_text(json.dumps([{"image_id": 101, "round_id": 1, "ranks": [1] * 100}]))
    result = runner.invoke(app, ["score", "--task", "visdial", "--data-dir", str(data), "--predictions", str(path)])
    assert result.exit_code == 1
    assert "item 0 field 'ranks' should give each of the round's 100 options its rank" in flat(result.output)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("gt_index", "data.dialogs[1] (image_id 102) round 2 has no field 'gt_index'"),
        ("answer_options", "data.dialogs[1] (image_id 102) round 2 has no field 'answer_options'"),
        ("question", "data.dialogs[1] (image_id 102) round 2 has no field 'question'"),
    ],
)
def test_a_missing_field_is_named(tmp_path: Path, mock_run: MockRun, field: str, message: str) -> None:
    data = write_visdial(tmp_path / "visdial")
    path = data / "visdial_1.0_val.json"
    release = json.loads(path.read_text())
    del release["data"]["dialogs"][1]["dialog"][1][field]
    path.write_text(json.dumps(release))
    result = runner.invoke(
        app, ["run", "--model", "mock", "--task", "visdial", "--data-dir", str(data), "-o", str(tmp_path / "run")]
    )
    assert result.exit_code == 1
    assert str(path) in flat(result.output) and message in flat(result.output)
