"""Bootstrap confidence intervals on known inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fseval.cli import app
from fseval.metrics.classification import _auc_resampler
from fseval.metrics.stats import bootstrap_ci, mean_resampler


def test_constant_scores_have_a_point_interval() -> None:
    assert bootstrap_ci([(mean_resampler([1.0] * 20), 20)]) == (100.0, 100.0)


def test_interval_matches_the_normal_approximation_for_a_mean() -> None:
    scores = [1.0] * 300 + [0.0] * 700  # p = 0.3, n = 1000: standard error 1.449 points
    low, high = bootstrap_ci([(mean_resampler(scores), 1000)])
    half_width = 1.96 * 100 * math.sqrt(0.3 * 0.7 / 1000)
    assert low == pytest.approx(30 - half_width, abs=0.4) and high == pytest.approx(30 + half_width, abs=0.4)


def test_reproducible_and_paired_across_trials() -> None:
    a = mean_resampler([1.0, 0.0, 1.0, 1.0, 0.0, 0.5])
    assert bootstrap_ci([(a, 6)]) == bootstrap_ci([(a, 6)])
    # Two identical trials give the interval of one: the draws are shared, not independent.
    assert bootstrap_ci([(a, 6), (a, 6)]) == bootstrap_ci([(a, 6)])


def test_auc_resampler_skips_one_class_resamples() -> None:
    resample = _auc_resampler([True, False], [0.9, 0.1])
    values = resample(np.array([[0, 1], [0, 0], [1, 1]]))
    assert values[0] == 100.0 and math.isnan(values[1]) and math.isnan(values[2])


def test_results_json_and_table_carry_the_interval(tmp_path: Path, vqav2_dir: Path) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--model",
        "mock",
        "--task",
        "vqav2",
        "--data-dir",
        str(vqav2_dir),
        "--shots",
        "2",
        "--trials",
        "2",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, "--model-arg", "mode=copy-demo"])
    assert result.exit_code == 0, result.output
    assert "95% CI" in result.output
    (row,) = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    low, high = row["ci95"]
    assert 0 <= low <= high <= 100
