"""``benchmarks/perf.py`` measures what it says: its workers run the real loop with the switches they name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def perf():
    spec = importlib.util.spec_from_file_location("perf", ROOT / "benchmarks" / "perf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["perf"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def work(perf, tmp_path_factory) -> Path:
    from fseval.models.openflamingo import make_tiny

    work = tmp_path_factory.mktemp("perf")
    perf.write_vqav2(work / "vqav2", train_images=9, val_images=1)
    make_tiny(work / "tiny")
    return work


def job(perf, work: Path, switches: dict[str, bool], **extra) -> dict:
    return {"work": str(work), "config": "tiny", "shots": 2, "switches": switches, "device": "cpu",
            "precision": "fp32", "limit": 4, "batch_size": 2, **extra}  # fmt: skip


def test_run_worker_times_the_loop_and_counts_vision_calls(perf, work: Path) -> None:
    off = perf.worker_run(job(perf, work, perf.ALL_OFF))
    on = perf.worker_run(job(perf, work, perf.ALL_ON))
    for result in (off, on):
        assert result["samples"] == 4 and result["wall"] > 0
        assert 0 < result["compute_fraction"] <= 1.0
    assert off["vision_per_query"] == 3.0  # two demos and the query, every time
    assert on["vision_per_query"] < off["vision_per_query"]  # demo images come from the cache
    assert on["predictions"] == off["predictions"]


def test_rank_worker_compares_strategies_on_the_same_prompt(perf, work: Path) -> None:
    variants = [("packed", "packed", None), ("chunked_64", "chunked", 64)]
    result = perf.worker_rank(job(perf, work, perf.ALL_ON, rank_variants=variants))
    assert result["generate_s"] > 0 and result["floor_s"] > 0
    assert result["fed_tokens"] < result["candidate_tokens"]
    for label, _, _ in variants:
        assert result[label]["seconds"] > 0 and result[label]["same_top1"]
