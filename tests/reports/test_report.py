"""fseval report: what the HTML holds, that it needs nothing from outside, and the thumbnail budget.

That the page draws in a browser without errors or requests is checked by scripts/screenshot_report.py
(headless Chromium), which the tests cannot assume is installed.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from fseval.cli import app
from fseval.reports.compare import load_run
from fseval.reports.html import _script_json, build_report
from fseval.reports.html.payload import chunks

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("report")
    out = []
    for name, mode in (("majority", "majority"), ("copy", "copy-demo")):
        args = ["run", "--model", "mock", "--model-arg", f"mode={mode}", "--task", "shapes_vqa", "--limit", "12"]
        result = runner.invoke(app, [*args, "--output", str(root / name)])
        assert result.exit_code == 0, result.output
        out.append(root / name)
    return out


def payload(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="fseval-data">(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def samples(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_the_browser_data_gives_back_every_sample(runs: list[Path], tmp_path: Path) -> None:
    built = build_report([load_run(run) for run in runs], tmp_path / "r.html")
    data = payload(built.path.read_text())
    assert data["runs"] == ["majority", "copy"]
    lines = [samples(run) for run in runs]
    assert len(data["items"]) == len(lines[0]) == built.stats.samples  # both runs evaluated the same samples
    by_key = {(data["tasks"][i[0]], i[1], i[2], i[3]): i for i in data["items"]}
    for position, run_lines in enumerate(lines):
        for line in run_lines:
            item = by_key[(line["task"], line["shots"], line["seed"], line["id"])]
            entry = item[6][position]
            assert "".join(data["chunks"][c] for c in entry[0]) == line["prompt"]  # the exact prompt, in order
            assert [data["media"][m][0] for m in entry[1]] == line["media"]
            assert (entry[2], entry[3], entry[4]) == (line["generation"], line["prediction"], line["score"])
            assert data["targets"][item[5]] == line["targets"]
            assert sorted(data["groups"][g] for g in item[4]) == sorted(f"{k}={v}" for k, v in line["groups"].items())


def test_thumbnails_are_made_once_per_file(runs: list[Path], tmp_path: Path) -> None:
    built = build_report([load_run(run) for run in runs], tmp_path / "r.html", thumbnail_size=32)
    data = payload(built.path.read_text())
    files = {name for run in runs for line in samples(run) for name in line["media"]}
    assert len(data["media"]) == len(files) == len(data["thumbnails"]) == built.stats.thumbnails
    assert len(set(data["thumbnails"])) <= len(files)
    for uri in data["thumbnails"]:
        assert uri.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
            assert max(image.size) <= 32


def test_summary_scores_breakdowns_and_differences(runs: list[Path], tmp_path: Path) -> None:
    loaded = [load_run(run) for run in runs]
    html = build_report(loaded, tmp_path / "r.html").path.read_text()
    for run in loaded:
        for _, row in run.record.rows():
            assert f"<b>{row.mean:.2f}</b>" in html
    assert "shapes_vqa by question_type" in html and "Paired differences" in html
    assert html.count('<svg class="chart"') == 1  # one task


def test_nothing_is_fetched_from_outside(runs: list[Path], tmp_path: Path) -> None:
    html = build_report([load_run(runs[0])], tmp_path / "r.html").path.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html


def test_a_prompt_cannot_end_the_data_script() -> None:
    text = _script_json({"prompt": "</script><script>alert(1)</script><!--"})
    assert "<" not in text
    assert json.loads(text) == {"prompt": "</script><script>alert(1)</script><!--"}


def test_prompt_chunks_join_back() -> None:
    prompt = "<image>Q:a A:b<|endofchunk|><image>Q:c A:d<|endofchunk|><image>Q:e A:"
    assert chunks(prompt) == ["<image>Q:a A:b<|endofchunk|>", "<image>Q:c A:d<|endofchunk|>", "<image>Q:e A:"]
    assert "".join(chunks(prompt)) == prompt and chunks("") == []


def test_budget_embeds_query_images_first_and_names_the_rest(runs: list[Path], tmp_path: Path) -> None:
    run = load_run(runs[0])
    full = payload(build_report([run], tmp_path / "full.html").path.read_text())
    queries = {line.media[-1] for line in run.samples}
    query_bytes = sum(len(full["thumbnails"][row[1]]) for row in full["media"] if row[0] in queries)
    built = build_report([run], tmp_path / "r.html", image_budget_mb=query_bytes / 1e6)
    data = payload(built.path.read_text())
    embedded = {row[0] for row in data["media"] if row[1] >= 0}
    assert embedded == queries
    assert all("budget" in row[2] for row in data["media"] if row[1] < 0)
    assert sum(built.stats.not_embedded.values()) == len(data["media"]) - len(queries) > 0


def test_an_unreadable_image_is_named_not_fatal(runs: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(runs[0], copy)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    lines = samples(copy)
    lines[0]["media"][-1] = str(broken)
    (copy / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    data = payload(build_report([load_run(copy)], tmp_path / "r.html").path.read_text())
    row = next(row for row in data["media"] if row[0] == str(broken))
    assert row[1] == -1 and "cannot read broken.jpg" in row[2]


def test_cli_report(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", *map(str, runs), "-o", str(out), "--label", "A", "--label", "B"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and payload(out.read_text())["runs"] == ["A", "B"]
    missing = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "is not a run directory" in missing.output


def test_a_video_shows_its_first_frame_and_hashed_bytes_are_named(tmp_path: Path) -> None:
    from video_writers import write_clip

    from fseval.reports.html.thumbnails import make_thumbnails, media_path

    clip = write_clip(tmp_path / "clip.mp4")
    assert media_path(f"{clip}#u8", None) == clip  # a clip's key names its frame selection after '#'
    assert media_path("0" * 64, None) is None  # image bytes from a dataset column, keyed by their hash
    video, hashed = make_thumbnails([clip, None], size=16, budget_bytes=10**6)
    assert video.uri is not None and video.uri.startswith("data:image/jpeg;base64,")
    assert hashed.uri is None and "dataset column" in hashed.why


def test_the_multi_run_chart_has_a_legend_in_the_lines_colours(runs: list[Path], tmp_path: Path) -> None:
    from fseval.reports.colours import run_colours

    loaded = [load_run(run) for run in runs]
    html = build_report(loaded, tmp_path / "r.html").path.read_text()
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert charts
    for chart in charts:
        legend = re.findall(
            r'<g class="legend-entry" data-run="([^"]*)" data-colour="([^"]*)">.*?>([^<]*)</text>', chart
        )
        assert [(name, colour) for name, colour, _ in legend] == list(
            zip(["majority", "copy"], run_colours(2), strict=True)
        )
        assert [text for _, _, text in legend] == ["majority", "copy"]
        lines = dict(re.findall(r'<polyline [^>]*stroke="([^"]*)"[^>]*data-run="([^"]*)"', chart))
        assert {run: colour for colour, run in lines.items()} == {name: colour for name, colour, _ in legend}
    alone = build_report(loaded[:1], tmp_path / "one.html").path.read_text()
    assert 'class="legend"' not in alone  # one run: the table beside the chart names it


def test_a_run_missing_from_a_chart_keeps_the_others_colours() -> None:
    from fseval.record import ResultRow
    from fseval.reports.colours import run_colours
    from fseval.reports.html.svg import score_chart

    rows = [ResultRow(shots=0, trials=[50.0], mean=50.0, stddev=0.0, ci95=(40.0, 60.0))]
    chart = score_chart("vqav2", "accuracy", [("a", []), ("b", rows)])
    assert f'stroke="{run_colours(2)[1]}" stroke-width="2" data-run="b"' in chart
    assert ">a (no results)</text>" in chart and 'data-run="a" data-colour' in chart


def test_thousands_of_missing_images_make_one_short_line(runs: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(runs[0], copy)
    lines = samples(copy)
    count = 0
    for line in lines:
        for position in range(len(line["media"])):
            line["media"][position] = str(tmp_path / "gone" / f"{count}.jpg")
            count += 1
    (copy / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(copy), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (wrote,) = [line for line in result.stdout.splitlines() if line.startswith("Wrote")]
    first = tmp_path / "gone" / "0.jpg"
    assert f"0 thumbnails; {count:,} media not found (first: {first})" in wrote
    assert len(wrote) < 200 + len(str(out)) + len(str(first)) and "1.jpg" not in wrote
    assert "Making thumbnails of" in result.stderr  # status lines go to stderr while it works
    data = payload(out.read_text())
    assert all(row[1] == -1 and row[2] == f"not found: {row[0]}" for row in data["media"])
