"""Demo selection strategies: random, fixed, openflamingo-compatible, RICES."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fseval.cli import app
from fseval.errors import DataError
from fseval.run.demos import plan_fixed, plan_openflamingo, plan_random
from fseval.run.rices import most_similar
from fseval.types import Sample

runner = CliRunner()


def openflamingo_reference(n_eval: int, n_pool: int, k: int, seed: int, num_samples: int, batch_size: int):
    """OpenFlamingo's evaluate_vqa draw sequence, call for call, on index datasets."""
    test, train = list(range(n_eval)), list(range(n_pool))
    np.random.seed(seed)
    subset = torch.utils.data.Subset(test, np.random.choice(len(test), num_samples, replace=False))
    sampler = torch.utils.data.distributed.DistributedSampler(subset, num_replicas=1, rank=0)
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, sampler=sampler, collate_fn=list)
    query_set = [train[i] for i in np.random.choice(len(train), 2048, replace=False)]
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    order, demos = [], []
    for batch in loader:
        order.extend(int(x) for x in batch)
        demos.extend([random.sample(query_set, k) for _ in range(len(batch))])
    return order, demos


@pytest.mark.parametrize(("n_eval", "k", "num_samples", "seed"), [(50, 4, 50, 42), (300, 2, 37, 7), (120, 32, 60, 0)])
def test_openflamingo_draws_match_its_code(n_eval: int, k: int, num_samples: int, seed: int) -> None:
    order, demos = openflamingo_reference(n_eval, 2500, k, seed, num_samples, batch_size=8)
    limit = None if num_samples == n_eval else num_samples
    plan = plan_openflamingo(n_eval, 2500, k, seed, limit)
    assert plan.order == order
    assert plan.demos == demos


def samples(n: int) -> list[Sample]:
    return [Sample(id=1000 + i, media=()) for i in range(n)]


def test_random_demos_do_not_depend_on_the_evaluated_subset() -> None:
    full = plan_random(samples(20), samples(50), 4, 42, None, pool_is_eval=False)
    part = plan_random(samples(20), samples(50), 4, 42, 5, pool_is_eval=False)
    assert part.demos == full.demos[:5]
    own = plan_random(samples(20), samples(20), 19, 42, None, pool_is_eval=True)
    assert all(i not in row for i, row in enumerate(own.demos))  # never the query itself


def test_samples_of_a_demo_group_share_their_demos_and_never_draw_their_own_group() -> None:
    """Winoground's two images of one example: the same demos, and never the example's other image."""
    grouped = [Sample(id=f"{i // 2}_i{i % 2}", media=(), fields={"demo_group": i // 2}) for i in range(10)]
    plan = plan_random(grouped, grouped, 8, 42, None, pool_is_eval=True)
    for i, row in enumerate(plan.demos):
        assert len(set(row)) == 8 and {i - i % 2, i - i % 2 + 1}.isdisjoint(row)
        assert row == plan.demos[i ^ 1]  # the example's other sample
    with pytest.raises(DataError, match="Cannot draw 9 demos from a pool of 8"):
        plan_random(grouped, grouped, 9, 42, None, pool_is_eval=True)


def test_fixed_demos(tmp_path: Path) -> None:
    pool = samples(10)
    path = tmp_path / "demos.json"
    path.write_text(json.dumps([1003, 1001, 1007]))
    assert plan_fixed(samples(3), pool, 2, path, None).demos == [[3, 1]] * 3
    path.write_text(json.dumps({"1000": [1009, 1008], "1001": [1000, 1001], "1002": [1002, 1002]}))
    assert plan_fixed(samples(3), pool, 2, path, None).demos == [[9, 8], [0, 1], [2, 2]]
    path.write_text(json.dumps([1003, 4242]))
    with pytest.raises(DataError, match=r"demo ids \[4242\]"):
        plan_fixed(samples(3), pool, 2, path, None)
    path.write_text(json.dumps([1003]))
    with pytest.raises(DataError, match="lists 1 demo but 2 are needed"):
        plan_fixed(samples(3), pool, 2, path, None)
    path.write_text(json.dumps({"1000": "1009", "1001": [1000, 1001], "1002": [1002, 1002]}))
    with pytest.raises(DataError, match="sample 1000 should be a list of demo ids, not '1009'"):
        plan_fixed(samples(3), pool, 2, path, None)


def test_rices_orders_most_similar_last() -> None:
    pool = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert most_similar(queries, pool, 3) == [[3, 2, 0], [2, 3, 1]]
    assert most_similar(queries, pool, 2, exclude=[0, 1]) == [[3, 2], [2, 3]]


TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 1, "layers": 1},
}


def test_rices_run_caches_features(tmp_path: Path, vqav2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "fseval-rices-tiny.json"
    config.write_text(json.dumps(TINY_CLIP))
    cache = tmp_path / "cache"
    args = ["--task", "vqav2", "--data-dir", str(vqav2_dir), "--rices-model", str(config), "--rices-pretrained", ""]
    result = runner.invoke(app, ["cache-features", *args, "--cache-dir", str(cache), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    cached = sorted(cache.iterdir())
    assert len(cached) == 2  # demo split and evaluation split
    out = tmp_path / "run"
    run_args = [
        "run",
        "--model",
        "mock",
        *args,
        "--demos",
        "rices",
        "--shots",
        "2",
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
    ]
    result = runner.invoke(app, [*run_args, "--device", "cpu", "--model-arg", "mode=copy-demo"])
    assert result.exit_code == 0, result.output
    assert sorted(cache.iterdir()) == cached  # reused, nothing recomputed
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    pool = np.load(cached[0]) if len(np.load(cached[0])) == 12 else np.load(cached[1])
    queries = np.load(cached[1]) if len(np.load(cached[0])) == 12 else np.load(cached[0])
    train_ids = [
        q["question_id"]
        for q in json.loads((vqav2_dir / "v2_OpenEnded_mscoco_train2014_questions.json").read_text())["questions"]
    ]
    expected = most_similar(queries, pool, 2)
    assert [line["demo_ids"] for line in lines] == [[train_ids[i] for i in row] for row in expected]
    assert json.loads((out / "results.json").read_text())["config"]["demos"] == "rices"

    monkeypatch.chdir(vqav2_dir.parent)  # the same files spelled as a relative path share the cache
    relative = [
        *run_args[: run_args.index("--data-dir") + 1],
        vqav2_dir.name,
        *run_args[run_args.index("--data-dir") + 2 :],
    ]
    relative[relative.index("-o") + 1] = str(tmp_path / "relative")
    assert runner.invoke(app, [*relative, "--device", "cpu"]).exit_code == 0
    assert sorted(cache.iterdir()) == cached
