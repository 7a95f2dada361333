"""The evaluation loop's speed features never change what is evaluated or written.

Length grouping, background media loading and the out-of-memory backoff give the records of the
plain loop, in the same order; a corrupt image still fails only its sample; and the batch size
does not change greedy fp32 predictions of a real (tiny) OpenFlamingo model on CPU.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from data_writers import write_vqav2

from fseval.config import RunConfig
from fseval.models.mock import MockModel
from fseval.run.evaluation import evaluate, trial_settings, with_oom_backoff
from fseval.run.prefetch import PipelineOptions, Prefetcher, Stopwatch, group_by_length
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import load_task_data

PLAIN = PipelineOptions(group_by_length=False, prefetch=False)


def run_trial(data_dir: Path, model, pipeline: PipelineOptions, batch_size: int = 4, shots: int = 2) -> list[dict]:
    (task,) = load_tasks(["vqav2"])
    data = load_task_data(task, str(data_dir), None)
    config = RunConfig(tasks=("vqav2",), model="m", batch_size=batch_size)
    outcome = evaluate(task, data, model, shots, 42, 0, trial_settings(config, task, pipeline), lambda n: None)
    assert outcome is not None
    return [asdict(record) for record in outcome[0]]


class LengthEcho(MockModel):
    """Answers with the prompt length, so a mix-up of prompts and queries would show."""

    def __init__(self) -> None:
        super().__init__(mode="majority")
        self.batches: list[list[int]] = []

    def generate(self, prompts, settings):
        self.batches.append([len(p.text) for p in prompts])
        return [f"{len(p.text)} {len(p.media)}" for p in prompts]


@pytest.mark.parametrize("pipeline", [PipelineOptions(), PipelineOptions(prefetch=False)], ids=["all", "grouped"])
def test_grouping_and_prefetch_keep_records_and_their_order(tmp_path: Path, pipeline: PipelineOptions) -> None:
    data_dir = write_vqav2(tmp_path / "vqa", corrupt_image_id=1001)
    plain_model, fast_model = LengthEcho(), LengthEcho()
    plain = run_trial(data_dir, plain_model, PLAIN, batch_size=2)
    fast = run_trial(data_dir, fast_model, pipeline, batch_size=2)
    assert fast == plain
    assert [r["error"] is not None for r in fast] == [False, False, False, True, True, True]  # image 1001
    grouped = [length for batch in fast_model.batches for length in batch]
    assert grouped == sorted(grouped, reverse=True)  # longest prompts first, similar lengths together


def test_prefetcher_loads_ahead_and_keeps_failures_per_item() -> None:
    batches = [[1, 2], [3, 0], [4]]

    def load(x: int) -> float | ZeroDivisionError:
        try:
            return 1 / x
        except ZeroDivisionError as e:
            return e

    got = list(Prefetcher(batches, load, depth=1, workers=2))
    assert [b for b, _ in got] == batches
    assert got[0][1] == [1.0, 0.5] and isinstance(got[1][1][1], ZeroDivisionError) and got[2][1] == [0.25]


def test_group_by_length_is_stable() -> None:
    assert group_by_length(["bb", "a", "cc", "ddd", "e"], len) == ["ddd", "bb", "cc", "a", "e"]


def test_stopwatch_records_the_loop_stages(tmp_path: Path) -> None:
    watch = Stopwatch()
    run_trial(write_vqav2(tmp_path / "vqa"), MockModel(mode="majority"), PipelineOptions(stopwatch=watch))
    assert {"data", "model", "scoring", "evaluate"} <= set(watch.seconds)


@pytest.mark.parametrize("grouped", [True, False])
def test_a_run_keeps_the_callers_stopwatch_and_its_own_switches(tmp_path: Path, grouped: bool) -> None:
    from fseval.run.runner import GivenModel, no_progress, run

    watch, model = Stopwatch(), LengthEcho()
    config = RunConfig(
        tasks=("vqav2",), model="m", shots=(2,), data_dir=str(write_vqav2(tmp_path / "vqa")),
        output=tmp_path / "run", batch_size=2, group_by_length=grouped, prefetch=False,
    )  # fmt: skip
    run(config, no_progress, GivenModel(model), pipeline=PipelineOptions(stopwatch=watch))
    assert watch.seconds["evaluate"] > 0 and watch.seconds["model"] > 0  # what benchmarks/perf.py reads
    lengths = [length for batch in model.batches for length in batch]
    assert (lengths == sorted(lengths, reverse=True)) is grouped


class SmallMemoryModel(LengthEcho):
    """Raises CUDA's out-of-memory error for batches larger than ``capacity``."""

    def __init__(self, capacity: int, error: type[Exception] = torch.OutOfMemoryError) -> None:
        super().__init__()
        self.capacity, self.error = capacity, error
        self.calls: list[int] = []

    def generate(self, prompts, settings):
        self.calls.append(len(prompts))
        if len(prompts) > self.capacity:
            raise self.error("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().generate(prompts, settings)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, RuntimeError], ids=["OutOfMemoryError", "RuntimeError"])
def test_batch_size_backs_off_on_out_of_memory(tmp_path: Path, error: type[Exception]) -> None:
    data_dir = write_vqav2(tmp_path / "vqa")
    expected = run_trial(data_dir, LengthEcho(), PLAIN, batch_size=6)
    model = SmallMemoryModel(capacity=2, error=error)
    assert run_trial(data_dir, model, PLAIN, batch_size=6) == expected
    assert model.calls[:2] == [6, 3]  # halved until it fits
    assert max(model.calls[2:]) <= 2 and 6 not in model.calls[2:]  # the smaller size is kept


def test_other_errors_propagate() -> None:
    def broken(part):
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        with_oom_backoff(object(), [1, 2, 3], broken)


def test_batch_size_does_not_change_greedy_fp32_predictions(tmp_path: Path, tiny_openflamingo: Path) -> None:
    from dataclasses import replace

    from fseval.models.openflamingo import load_model_dir

    adapter = load_model_dir(tiny_openflamingo)
    data_dir = write_vqav2(tmp_path / "vqa")
    (task,) = load_tasks(["vqav2"])
    generation = task.spec.generation.model_copy(update={"num_beams": 1, "max_new_tokens": 4})
    task = replace(task, spec=task.spec.model_copy(update={"generation": generation}))
    results = []
    for batch_size, pipeline in ((1, PLAIN), (4, PipelineOptions()), (6, PipelineOptions())):
        adapter.clear_media_cache()
        on = pipeline is not PLAIN  # the plain path: no media cache, media keys/values per layer
        adapter.settings = adapter.settings.model_copy(update={"media_cache": on, "shared_media_kv": on})
        data = load_task_data(task, str(data_dir), None)
        config = RunConfig(tasks=("vqav2",), model="tiny", batch_size=batch_size)
        outcome = evaluate(task, data, adapter, 2, 42, 0, trial_settings(config, task, pipeline), lambda n: None)
        assert outcome is not None
        results.append([(r.id, r.generation) for r in outcome[0]])
    assert results[0] == results[1] == results[2]
    assert len({g for _, g in results[0]}) > 1  # the answers depend on the prompt
