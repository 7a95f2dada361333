"""The server family through a fault-injecting proxy in front of a real ``transformers serve`` (loopback, CPU).

Faults slow a run but never change it; a key or an image cap the server refuses stops the run before the first
sample; a run stopped mid-way by a server that turned away its requests resumes sending only what it lacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import FAULTS, Proxy, Served, greedy_tasks, proxy
from typer.testing import CliRunner

from fseval.cli.app import app
from fseval.record import STORE_FILE, read_samples
from fseval.run.store import SampleStore

pytestmark = pytest.mark.slow

TIMEOUT = 2.0  # the client's; an injected timeout holds a request longer


@pytest.fixture(scope="module")
def faulty(served: Served) -> Iterator[Proxy]:
    yield from proxy(served.base_url)


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    return greedy_tasks(tmp_path / "tasks")


def run(base_url: str, model: str, out: Path, tasks: Path, *extra: str, shots: str = "0,4") -> tuple[int, str]:
    """shapes_vqa on 6 samples, chat style, in batches of 2, through ``base_url``; (exit code, flat output)."""
    args = ["run", "--task", "shapes_vqa", "--shots", shots, "--limit", "6", "--batch-size", "2"]
    arguments = {"base_url": base_url, "model": model, "prompt_style": "chat", "send_stop": "false"}
    arguments.update(timeout=str(TIMEOUT), backoff="0.01")
    model_args = [x for k, v in arguments.items() for x in ("--model-arg", f"{k}={v}")]
    result = CliRunner().invoke(
        app, [*args, "--tasks-dir", str(tasks), "--output", str(out), "--model", "server", *model_args, *extra]
    )
    return result.exit_code, " ".join(result.output.split())


def outputs(run_dir: Path) -> tuple[list[str], object]:
    """samples.jsonl's lines and results.json's scores (its ``results``; not ``model``: the address, the usage)."""
    return (run_dir / "samples.jsonl").read_text().splitlines(), json.loads((run_dir / "results.json").read_text())[
        "results"
    ]


def test_faults_slow_a_run_but_never_change_it(served: Served, faulty: Proxy, tmp_path: Path, tasks: Path) -> None:
    model = str(served.model_dir)
    code, output = run(served.base_url, model, tmp_path / "direct", tasks)
    assert code == 0, output
    # one of each fault, then three in a row on one request (a drop, a 429, a 500)
    schedule = dict(zip((1, 3, 5, 7, 9, 10, 11), (*FAULTS, "429", "500"), strict=True))
    faulty.reset(schedule=schedule, delay=TIMEOUT + 1.0)
    code, output = run(faulty.base_url, model, tmp_path / "proxied", tasks, "--model-arg", "concurrency=1")
    assert code == 0, output
    assert outputs(tmp_path / "proxied") == outputs(tmp_path / "direct")
    samples = read_samples(tmp_path / "proxied")
    assert len(samples) == 12 and all(s.error is None for s in samples)
    assert faulty.faults() == {"429": 2, "500": 2, "timeout": 1, "truncate": 1, "drop": 1}
    assert len(faulty.log) == len(samples) + len(schedule)  # each fault retried once, nothing more
    assert len(faulty.completions) == len(set(faulty.completions)) == len(samples)  # each sample answered once
    usage = json.loads((tmp_path / "proxied" / "results.json").read_text())["model"]["usage"]
    assert usage["requests"] == len(samples)  # the answers counted, not the tries


def test_a_refused_key_stops_before_the_first_sample(
    served: Served,
    faulty: Proxy,
    tmp_path: Path,
    tasks: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faulty.reset(key="sk-right")
    monkeypatch.setenv("FSEVAL_TEST_KEY", "sk-wrong")
    out = tmp_path / "run"
    code, output = run(faulty.base_url, str(served.model_dir), out, tasks, "--model-arg", "api_key_env=FSEVAL_TEST_KEY")
    assert code == 1 and "HTTP 401" in output and "FSEVAL_TEST_KEY" in output, output
    assert "sk-wrong" not in output and not out.exists() and faulty.log == []
    monkeypatch.setenv("FSEVAL_TEST_KEY", "sk-right")  # the right key passes (and is never recorded)
    code, output = run(faulty.base_url, str(served.model_dir), out, tasks, "--model-arg", "api_key_env=FSEVAL_TEST_KEY")
    assert code == 0, output
    assert not any("sk-right" in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


def test_a_server_capping_images_below_the_shots_stops_before_the_first_sample(
    served: Served,
    faulty: Proxy,
    tmp_path: Path,
    tasks: Path,
) -> None:
    faulty.reset(max_images=2)
    out = tmp_path / "run"
    code, output = run(faulty.base_url, str(served.model_dir), out, tasks, shots="4")
    assert code == 1 and "refuses a prompt with 5 images" in output and "At most 2 image(s)" in output, output
    assert not out.exists() and faulty.log == []


def test_a_stopped_run_resumes_sending_only_what_it_lacks(
    served: Served,
    faulty: Proxy,
    tmp_path: Path,
    tasks: Path,
) -> None:
    model, concurrency = str(served.model_dir), ("--model-arg", "concurrency=2")
    faulty.reset()
    code, output = run(faulty.base_url, model, tmp_path / "whole", tasks, *concurrency)
    assert code == 0, output
    every = set(faulty.completions)
    assert len(every) == 12

    # the server turns every request away from the 9th on: 4 batches of 2 are answered and stored
    faulty.reset(refuse_after=8)
    broken = tmp_path / "broken"
    code, output = run(faulty.base_url, model, broken, tasks, *concurrency)
    assert code == 1 and "HTTP 400" in output and f"fseval run --resume {broken}" in output, output
    answered = set(faulty.completions)
    assert len(answered) == 8 and answered < every
    store = SampleStore(broken / STORE_FILE)
    assert store.count() == 8
    store.close()

    faulty.reset()
    result = CliRunner().invoke(app, ["run", "--resume", str(broken)])
    assert result.exit_code == 0, result.output
    assert [fault for _, fault, _ in faulty.log] == ["ok"] * 4  # the 4 unanswered requests, each sent once
    assert set(faulty.completions) == every - answered
    assert outputs(broken) == outputs(tmp_path / "whole")
