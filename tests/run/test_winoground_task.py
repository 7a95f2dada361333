"""Winoground end to end: the release's examples.jsonl read as two samples per example, runs of the mock at 0 and
4 shots, batch sizes, ``fseval score`` of the release's model_scores files (equal to its compute_statistics.py on
the committed fixture), of a JSON list and of a run directory, and bad release files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from data_writers import WINOGROUND_EXAMPLES, flat, write_winoground
from run_helpers import MockRun
from typer.testing import CliRunner

from fseval.cli import app
from fseval.data.winoground import read_winoground
from fseval.errors import DataError

runner = CliRunner()
OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_winoground" / "winoground_cases.json"
ORACLE = ["--model-arg", "mode=field", "--model-arg", "field=caption"]  # 0 per word for the image's own caption


def samples_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def results_of(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((out / "results.json").read_text())["results"]["winoground"]
    return rows


def test_loader_makes_one_sample_per_image(tmp_path: Path) -> None:
    data = write_winoground(tmp_path / "winoground")
    samples = read_winoground(data, "examples.jsonl", "images/{image}.png")
    assert [s.id for s in samples[:4]] == ["0_i0", "0_i1", "1_i0", "1_i1"] and len(samples) == 12
    first, second = samples[0].fields, samples[1].fields
    assert first["captions"] == second["captions"] == (WINOGROUND_EXAMPLES[0][0], WINOGROUND_EXAMPLES[0][1])
    assert (first["caption"], second["caption"]) == first["captions"]
    assert (first["example_id"], first["image"], second["image"]) == (0, 0, 1)
    assert samples[7].fields["secondary_tag"] == "Symbolic, Series" and samples[9].fields["num_main_preds"] == 2
    assert samples[1].media[0].path == data / "images" / "ex_0_img_1.png" and samples[1].media[0].rgb


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('"id": 2,', '"id": "2",'), "line 3 field 'id' should be an integer"),
        (lambda t: t.replace('"id": 2,', '"id": 1,'), "line 3 repeats id 1 (line 2)"),
        (lambda t: t.replace('"num_main_preds": 2', '"num_main_preds": "2"'), "line 5 field 'num_main_preds'"),
        (lambda t: t.replace('"a snake eats a bird"', '"a bird eats a snake"'), "line 6 has the same caption_0"),
        (lambda t: t.replace('"caption_0": "a bird', '"caption_0": null, "x": "a bird'), "should be a string"),
        (lambda t: t + "{not json\n", "line 7 is not valid JSON"),
    ],
)
def test_loader_refuses_bad_lines_naming_file_and_line(tmp_path: Path, edit: Any, message: str) -> None:
    data = write_winoground(tmp_path / "winoground")
    path = data / "examples.jsonl"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError) as error:
        read_winoground(data, "examples.jsonl", "images/{image}.png")
    assert str(path) in str(error.value) and message in str(error.value)


def test_a_missing_field_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    data = write_winoground(tmp_path / "winoground", drop_field="caption_1")
    args = ["run", "--model", "mock", "--task", "winoground", "--data-dir", str(data), "-o", str(tmp_path / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    output = flat(result.output)
    assert "examples.jsonl: line 4 has no field 'caption_1'" in output and "Loading the model" not in output


def test_runs_at_zero_and_four_shots(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_winoground(tmp_path / "winoground")
    mock_run(tmp_path / "run", "--shots", "0,4", "--data-dir", str(data), *ORACLE, task="winoground")
    lines = samples_of(tmp_path / "run")
    zero, four = [line for line in lines if line["shots"] == 0], [line for line in lines if line["shots"] == 4]
    assert len(zero) == len(four) == 12 and not any(line["error"] for line in lines)
    assert all(line["prompt"] == "<image>Output:" and line["demo_ids"] == [] for line in zero)  # no text demos
    assert all(len(line["demo_ids"]) == 4 and line["id"] not in line["demo_ids"] for line in four)
    demo = WINOGROUND_EXAMPLES[int(four[0]["demo_ids"][0][0])][int(four[0]["demo_ids"][0][-1])]
    assert four[0]["prompt"].startswith(f"<image>Output:{demo}<|endofchunk|>")
    # Summed log-likelihood: the other caption scores -1 per word.
    assert zero[0]["scores"] == [0.0, -7.0] and zero[1]["scores"] == [-7.0, 0.0] and zero[0]["score"] == 1.0
    rows = results_of(tmp_path / "run")
    assert [(row["shots"], row["mean"], row["n"]) for row in rows] == [(0, 100.0, 12), (4, 100.0, 12)]
    assert rows[0]["extra"]["text_score"] == rows[0]["extra"]["image_score"] == 100.0
    assert sorted(rows[0]["breakdown"]) == ["collapsed_tag", "num_main_preds", "secondary_tag", "tag"]
    assert rows[0]["breakdown"]["collapsed_tag"]["Object"]["n"] == 6  # examples 1, 2 and 5: both images each


def test_a_model_that_prefers_one_caption_everywhere_gets_no_image_score(tmp_path: Path, mock_run: MockRun) -> None:
    """The mock answers caption_0 of example 0 for every image: only example 0's image 0 prefers its caption."""
    data = write_winoground(tmp_path / "winoground")
    constant = ["--model-arg", "mode=constant", "--model-arg", f"text={WINOGROUND_EXAMPLES[0][0]}"]
    mock_run(tmp_path / "run", "--shots", "0", "--data-dir", str(data), *constant, task="winoground")
    (row,) = results_of(tmp_path / "run")
    # Example 0: s(c0, i) = 0 > s(c1, i) = -7 for both images, so text fails on i1 and image ties; the others tie.
    assert (row["mean"], row["extra"]["text_score"], row["extra"]["image_score"]) == (0.0, 0.0, 0.0)
    assert [line["score"] for line in samples_of(tmp_path / "run")][:3] == [1.0, 0.0, 0.0]


def test_batch_size_does_not_change_the_scores(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_winoground(tmp_path / "winoground")
    runs = []
    for batch in ("1", "4"):
        out = tmp_path / f"batch{batch}"
        mock_run(out, "--shots", "0,4", "--data-dir", str(data), *ORACLE, "--batch-size", batch, task="winoground")
        runs.append(
            [[line[k] for k in ("id", "shots", "demo_ids", "prompt", "scores", "score")] for line in samples_of(out)]
        )
    assert runs[0] == runs[1]


def test_score_reads_the_release_model_scores_as_compute_statistics(tmp_path: Path) -> None:
    fixture = json.loads(OFFICIAL.read_text())
    data = tmp_path / "winoground"
    data.mkdir()
    (data / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in fixture["examples"]))
    for name, case in fixture["cases"].items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in case["lines"]))
        args = ["score", "--task", "winoground", "--data-dir", str(data), "--predictions", str(path), "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        scored = json.loads(result.output)
        assert (scored["n"], scored["missing"]) == (2 * len(fixture["examples"]), 0)
        for variant in ("text", "image", "group"):
            assert scored["metrics"][f"{variant}_score"] == pytest.approx(case["overall"][variant], abs=1e-9)
        for value, official in case["by"]["collapsed_tag"].items():
            assert scored["breakdown"]["collapsed_tag"][value]["score"] == pytest.approx(official["group"], abs=1e-9)


def test_score_reads_a_json_list_and_rescores_the_run(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_winoground(tmp_path / "winoground")
    c0, c1 = WINOGROUND_EXAMPLES[0][:2]
    records = [{"id": "0_i0", "scores": {c0: -1.0, c1: -2.0}}, {"id": "0_i1", "scores": {c0: -3.0, c1: -1.5}}]
    (tmp_path / "predictions.json").write_text(json.dumps(records))
    args = ["score", "--task", "winoground", "--data-dir", str(data), "--json", "--predictions"]
    result = runner.invoke(app, [*args, str(tmp_path / "predictions.json")])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    assert (scored["n"], scored["missing"], scored["metrics"]["winoground"]) == (2, 10, 100.0)

    mock_run(tmp_path / "run", "--shots", "0", "--data-dir", str(data), *ORACLE, task="winoground")
    rescored = runner.invoke(app, [*args, str(tmp_path / "run")])
    assert rescored.exit_code == 0, rescored.output
    (trial,) = json.loads(rescored.output)
    assert (trial["n"], trial["metrics"]["winoground"]) == (12, results_of(tmp_path / "run")[0]["mean"])


@pytest.mark.slow
@pytest.mark.parametrize("family", ["openflamingo", "idefics", "qwen2_vl"])
def test_tiny_models_rank_both_captions_batch_invariant(
    tmp_path: Path, family: str, request: pytest.FixtureRequest
) -> None:
    """Real models score each caption in full (RGBA images too); batch size changes no score."""
    model: Path = request.getfixturevalue(f"tiny_{family}")
    data = write_winoground(tmp_path / "winoground")
    runs = []
    for batch in ("1", "4"):
        out = tmp_path / f"batch{batch}"
        args = ["run", "--model", str(model), "--device", "cpu", "--task", "winoground", "--data-dir", str(data)]
        result = runner.invoke(app, [*args, "--shots", "0,4", "--batch-size", batch, "-o", str(out)])
        assert result.exit_code == 0, result.output
        runs.append(samples_of(out))
    one, four = runs
    assert all(line["error"] is None and len(line["scores"]) == 2 for line in one)
    flat_scores = [[score for line in lines for score in line["scores"]] for lines in (one, four)]
    assert flat_scores[0] == pytest.approx(flat_scores[1], abs=1e-4)  # float sums differ in the 8th digit
    assert [line["score"] for line in one] == [line["score"] for line in four]
    assert all(row["n"] == 12 for row in results_of(tmp_path / "batch1"))
