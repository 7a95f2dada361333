"""The server family against a real ``transformers serve`` on a make-tiny Qwen2-VL model (loopback, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from server_helpers import Served, greedy_tasks
from typer.testing import CliRunner

from fseval.cli.app import app
from fseval.record import read_samples

pytestmark = pytest.mark.slow


def run(out: Path, tasks: Path, model: list[str], shots: str, *extra: str) -> tuple[int, str]:
    args = ["run", "--task", "shapes_vqa", "--shots", shots, "--limit", "6", "--tasks-dir", str(tasks)]
    result = CliRunner().invoke(app, [*args, "--output", str(out), *model, *extra])
    return result.exit_code, result.output


def server_args(served: Served, style: str, **more: str) -> list[str]:
    args = {"base_url": served.base_url, "model": str(served.model_dir), "prompt_style": style, "send_stop": "false"}
    return ["--model", "server", *[x for k, v in {**args, **more}.items() for x in ("--model-arg", f"{k}={v}")]]


@pytest.mark.parametrize("style", ["chat", "interleaved"])
def test_shapes_vqa_through_the_server(served: Served, tmp_path: Path, style: str) -> None:
    tasks = greedy_tasks(tmp_path / "tasks")
    code, output = run(tmp_path / "run", tasks, server_args(served, style), "0,4")
    assert code == 0, output
    samples = read_samples(tmp_path / "run")
    assert {s.shots for s in samples} == {0, 4} and all(s.error is None for s in samples)
    request = json.loads(samples[-1].model_prompt or "")
    assert request["model"] == str(served.model_dir) and "base64" not in samples[-1].model_prompt  # type: ignore[operator]
    usage = json.loads((tmp_path / "run" / "results.json").read_text())["model"]["usage"]
    assert usage["requests"] == len(samples) and usage["prompt_tokens"] > 0


def test_chat_predictions_equal_in_process(served: Served, tmp_path: Path) -> None:
    """Greedy answers through the server equal hf_vlm's in-process ones, but where they differ as documented
    (docs/served_models.md: the server neither bans special tokens nor stops where hf_vlm does)."""
    tasks = greedy_tasks(tmp_path / "tasks")
    for shots in ("0", "4"):
        run(tmp_path / f"s{shots}", tasks, server_args(served, "chat"), shots)
        hf = ["--model", "hf_vlm", "--model-arg", f"path={served.model_dir}", "--model-arg", "prompt_style=chat"]
        run(tmp_path / f"h{shots}", tasks, hf, shots)
        there, here = read_samples(tmp_path / f"s{shots}"), read_samples(tmp_path / f"h{shots}")
        for a, b in zip(there, here, strict=True):
            served_text, own = a.generation or "", b.generation or ""
            # Where they differ, the server chose a special token hf_vlm bans: up to it the two agree.
            assert served_text == own or ("<|" in served_text and own.startswith(served_text.split("<|")[0]))


@pytest.mark.parametrize(
    ("more", "expected"),
    [
        ({"base_url": "http://127.0.0.1:9/v1"}, "does not answer"),
        ({"model": "no-such-model"}, "does not serve 'no-such-model'"),
    ],
)
def test_preflight_refuses(served: Served, tmp_path: Path, more: dict[str, str], expected: str) -> None:
    code, output = run(tmp_path / "run", greedy_tasks(tmp_path / "tasks"), server_args(served, "chat", **more), "4")
    assert code == 1 and expected in " ".join(output.split()) and not (tmp_path / "run").exists()


def test_interleaved_differs_from_in_process_only_by_whitespace_at_images(served: Served, tmp_path: Path) -> None:
    """The interleaved style is one user message, which the server wraps in the chat template. In-process
    hf_vlm's chat style on the same prompt without <|endofchunk|> (one user turn, each demo closed by a newline)
    renders the same turn, except that it strips each text part, so the newline before a demo's image goes: the
    two model inputs differ by that whitespace alone (docs/served_models.md), and a random tiny model's answers
    then differ freely."""
    tasks = greedy_tasks(tmp_path / "tasks")
    one_turn = greedy_tasks(tmp_path / "one_turn")
    spec = yaml.safe_load((one_turn / "shapes_vqa.yaml").read_text())
    spec["prompt"] = {  # prompts/vqa.yaml with each <|endofchunk|> and its separator newline as one newline
        "demo": "<image>Question:{question} Short answer:{answers[0]}\n",
        "query": "<image>Question:{question} Short answer:",
        "separator": "",
    }
    (one_turn / "shapes_vqa.yaml").write_text(yaml.safe_dump(spec))
    assert run(tmp_path / "served", tasks, server_args(served, "interleaved"), "0,4")[0] == 0
    hf = ["--model", "hf_vlm", "--model-arg", f"path={served.model_dir}", "--model-arg", "prompt_style=chat"]
    assert run(tmp_path / "own", one_turn, hf, "0,4")[0] == 0
    for a, b in zip(read_samples(tmp_path / "served"), read_samples(tmp_path / "own"), strict=True):
        (message,) = json.loads(a.model_prompt or "")["messages"]
        sent = "".join(part.get("text", "<image>") for part in message["content"])
        turn = (b.model_prompt or "").split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
        rendered = turn.replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>")
        assert sent != rendered and sent.replace("\n<image>", "<image>") == rendered
