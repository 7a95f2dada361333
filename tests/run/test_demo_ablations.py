"""``--demo-ablation``: the plain run's demos, changed per prompt, deterministic and paired with the plain run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from data_writers import flat, run_outputs
from typer.testing import CliRunner

from fseval.cli import app
from fseval.record import read_samples
from fseval.run.evaluation import ablate_demos
from fseval.tasks.prompts import answer_fields, render
from fseval.tasks.spec import PromptTemplate
from fseval.types import MediaRef, Sample

runner = CliRunner()
ABLATIONS = ("no_images", "shuffled_images", "random_answers", "permuted_order")
VQA = PromptTemplate(
    demo="<image>Question:{question} Short answer:{answers[0]}<|endofchunk|>",
    query="<image>Question:{question} Short answer:",
)
DEMOS = [Sample(i, (MediaRef(f"img{i}"),), {"question": f"q{i}?", "answers": [f"a{i}"]}) for i in range(3)]
POOL = [*DEMOS, Sample(9, (MediaRef("img9"),), {"question": "q9?", "answers": ["a9"]})]
QUERY = Sample("x", (MediaRef("imgx"),), {"question": "qx?"})


def demo(question: int, answer: int, image: bool = True) -> str:
    return f"{'<image>' * image}Question:q{question}? Short answer:a{answer}<|endofchunk|>\n"


# (ablation, the demos as (question, answer) in prompt order, the media in order), seed 0, query "x".
# fmt: off
CASES = [
    ("none", [(0, 0), (1, 1), (2, 2)], ["img0", "img1", "img2", "imgx"]),
    ("shuffled_images", [(0, 0), (1, 1), (2, 2)], ["img2", "img0", "img1", "imgx"]),  # no demo keeps its image
    ("permuted_order", [(1, 1), (2, 2), (0, 0)], ["img1", "img2", "img0", "imgx"]),
    ("random_answers", [(0, 2), (1, 2), (2, 1)], ["img0", "img1", "img2", "imgx"]),  # answers drawn from the pool
]
# fmt: on


@pytest.mark.parametrize(("ablation", "shown", "media"), CASES)
def test_each_ablation_gives_its_exact_prompt(ablation: str, shown: list[tuple[int, int]], media: list[str]) -> None:
    changed = ablate_demos(DEMOS, ablation, POOL, answer_fields(VQA), 0, "x")
    text, refs = render(VQA, changed, QUERY)
    assert text == "".join(demo(q, a) for q, a in shown) + "<image>Question:qx? Short answer:"
    assert [ref.key for ref in refs] == media


def test_no_images_keeps_the_demos_text_without_markers_or_media() -> None:
    text, refs = render(VQA, DEMOS, QUERY, demo_media=False)
    assert text == "".join(demo(i, i, image=False) for i in range(3)) + "<image>Question:qx? Short answer:"
    assert [ref.key for ref in refs] == ["imgx"]


def test_permutations_never_keep_the_drawn_order() -> None:
    """Over many samples: shuffled images are a derangement and permuted orders are never the drawn one."""
    for sample_id in range(200):
        shuffled = ablate_demos(DEMOS[:2], "shuffled_images", DEMOS, (), 7, sample_id)
        assert [d.media for d in shuffled] == [DEMOS[1].media, DEMOS[0].media]
        permuted = ablate_demos(DEMOS, "permuted_order", DEMOS, (), 7, sample_id)
        assert [d.id for d in permuted] != [0, 1, 2] and sorted(d.id for d in permuted) == [0, 1, 2]
        moved = ablate_demos(DEMOS, "shuffled_images", DEMOS, (), 7, sample_id)
        assert all(d.media != original.media for d, original in zip(moved, DEMOS, strict=True))


def test_answer_fields_are_what_demos_show_and_queries_ask() -> None:
    assert answer_fields(VQA) == ("answers",)
    assert answer_fields(PromptTemplate(demo="<image>Output:{caption}<|endofchunk|>", query="<image>Output:")) == (
        "caption",
    )


def samples(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {json.dumps([line.shots, line.id]): asdict(line) for line in read_samples(run_dir)}


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_ablated_runs_draw_the_plain_demos_and_are_batch_invariant(mock_run, tmp_path: Path, ablation: str) -> None:
    options = ("--shots", "0,4", "--model-arg", "mode=copy-demo")
    plain = samples(mock_run(tmp_path / "plain", *options))
    one = mock_run(tmp_path / "b1", *options, "--demo-ablation", ablation, "--batch-size", "1")
    four = mock_run(tmp_path / "b4", *options, "--demo-ablation", ablation, "--batch-size", "4")
    assert run_outputs(one) == run_outputs(four)
    ablated = samples(one)
    assert json.loads((one / "results.json").read_text())["config"]["demo_ablation"] == ablation
    assert plain.keys() == ablated.keys()
    for key, line in ablated.items():
        assert line["demo_ids"] == plain[key]["demo_ids"]  # paired: the same demos drawn
        if line["shots"] == 0:
            assert line["prompt"] == plain[key]["prompt"]  # 0 shots run plain
    four_shot = [(line, plain[key]) for key, line in ablated.items() if line["shots"] == 4]
    assert any((line["prompt"], line["media"]) != (before["prompt"], before["media"]) for line, before in four_shot)
    for line, before in four_shot:
        assert line["media"][-1] == before["media"][-1]  # the query's image
        assert sorted(line["prompt"].splitlines()) == sorted(before["prompt"].splitlines()) or ablation in (
            "no_images",
            "random_answers",
        )
        if ablation == "no_images":
            assert line["media"] == before["media"][-1:] and line["prompt"].count("<image>") == 1
        else:
            assert sorted(line["media"]) == sorted(before["media"])
    compared = runner.invoke(app, ["compare", str(tmp_path / "plain"), str(one)])
    assert compared.exit_code == 0 and "unpaired" not in compared.output, compared.output


def test_an_ablated_run_resumes_to_the_uninterrupted_files(mock_run, tmp_path: Path, vqav2_dir: Path) -> None:
    options = [
        "--shots",
        "4",
        "--batch-size",
        "2",
        "--model-arg",
        "mode=copy-demo",
        "--demo-ablation",
        "random_answers",
    ]
    whole = mock_run(tmp_path / "whole", *options)
    broken = tmp_path / "broken"
    command = ["run", "--model", "mock", "--task", "vqav2", "--data-dir", str(vqav2_dir), "-o", str(broken)]
    result = runner.invoke(app, [*command, *options, "--model-arg", "crash_after=2"])
    assert result.exit_code == 1, result.output
    result = runner.invoke(app, ["run", "--resume", str(broken), "--model-arg", "crash_after=0"])
    assert result.exit_code == 0, result.output
    assert run_outputs(broken) == run_outputs(whole)


@pytest.mark.parametrize(
    ("shots", "ablation", "message"),
    [
        ("0", "no_images", "no_images changes prompts with 1 or more demos, but the shot counts are 0"),
        ("0,1", "permuted_order", "permuted_order changes prompts with 2 or more demos, but the shot counts are 0, 1"),
    ],
)
def test_ablations_that_change_nothing_are_refused(vqav2_dir: Path, shots: str, ablation: str, message: str) -> None:
    result = runner.invoke(
        app,
        [
            *("run", "--model", "mock", "--task", "vqav2", "--data-dir", str(vqav2_dir), "--shots", shots),
            *("--demo-ablation", ablation, "-o", str(vqav2_dir.parent / "out")),
        ],
    )
    assert result.exit_code == 1 and message in flat(result.output), result.output
    assert not (vqav2_dir.parent / "out").exists()


@pytest.mark.slow
def test_tiny_shapes_ablations_give_paired_differences(tmp_path: Path) -> None:
    """As the README's numbers (there on all 111 questions): shapes_vqa at 4 shots on the bundled model, each
    ablation against the plain run, paired sample by sample, with the ablation noted by fseval show."""
    base = ["run", "--task", "shapes_vqa", "--shots", "4", "--limit", "24"]
    assert runner.invoke(app, [*base, "-o", str(tmp_path / "plain")]).exit_code == 0
    plain = [json.loads(line) for line in (tmp_path / "plain" / "samples.jsonl").read_text().splitlines()]
    for ablation in ABLATIONS:
        result = runner.invoke(app, [*base, "--demo-ablation", ablation, "-o", str(tmp_path / ablation)])
        assert result.exit_code == 0, result.output
        ablated = [json.loads(line) for line in (tmp_path / ablation / "samples.jsonl").read_text().splitlines()]
        assert [a["demo_ids"] for a in ablated] == [p["demo_ids"] for p in plain]  # the same draws
        assert all(a["prompt"] != p["prompt"] or a["media"] != p["media"] for a, p in zip(ablated, plain, strict=True))
        compared = runner.invoke(app, ["compare", str(tmp_path / "plain"), str(tmp_path / ablation)])
        assert compared.exit_code == 0 and "unpaired" not in compared.output, compared.output
        assert "B - A" in compared.output and "24" in compared.output  # the paired difference over all 24
        shown = runner.invoke(app, ["show", str(tmp_path / ablation)])
        assert f"demo ablation: {ablation}" in " ".join(shown.output.split())
