"""Throughput of the server family against a loopback ``transformers serve`` (make-tiny Qwen2-VL, CPU).

For each concurrency it runs shapes_vqa (greedy, chat style) through ``fseval run --model server`` with a batch
of ``--batch-size`` prompts (at least the largest concurrency: requests are in flight within a batch) and prints:
requests/s, the chat completions answered per second from the first sample request's start to the last one's
answer; samples/s, the samples finished per second of the whole run (data, preflight, writing included).
The numbers measure fseval's client and the server together; a tiny model on CPU makes the server's side small.

Run: python benchmarks/served.py [--samples 64] [--shots 4] [--concurrency 1 4 16] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fseval.cli.app import app
from fseval.models.server.client import Client
from tests.server_helpers import greedy_tasks, serve

Timed = list[tuple[float, float]]


def timing(spans: Timed) -> Any:
    """Record each chat completion's (start, end) in ``spans``."""
    original = Client._once
    lock = threading.Lock()

    def timed(self: Client, method: str, path: str, body: dict[str, Any] | None) -> Any:
        start = time.perf_counter()
        answer = original(self, method, path, body)
        if path == "/chat/completions" and body is not None and body.get("max_tokens") != 1:  # not the probe
            with lock:
                spans.append((start, time.perf_counter()))
        return answer

    return timed


def measure(base_url: str, model: str, tasks: Path, out: Path, concurrency: int, args: argparse.Namespace) -> str:
    spans: Timed = []
    Client._once = timing(spans)  # type: ignore[method-assign]
    arguments = {"base_url": base_url, "model": model, "send_stop": "false", "concurrency": str(concurrency)}
    command = ["run", "--task", "shapes_vqa", "--shots", str(args.shots), "--limit", str(args.samples)]
    command += ["--batch-size", str(args.batch_size), "--tasks-dir", str(tasks), "--output", str(out)]
    command += ["--model", "server", *[x for k, v in arguments.items() for x in ("--model-arg", f"{k}={v}")]]
    start = time.perf_counter()
    result = CliRunner().invoke(app, command)
    wall = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(result.output)
    busy = max(end for _, end in spans) - min(begin for begin, _ in spans)
    latency = sum(end - begin for begin, end in spans) / len(spans)
    return f"| {concurrency:>11} | {len(spans) / busy:>10.2f} | {args.samples / wall:>9.2f} | {latency * 1000:>10.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    if args.batch_size < max(args.concurrency):
        parser.error("--batch-size must be at least the largest --concurrency")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        made = CliRunner().invoke(app, ["make-tiny", str(root / "qwen"), "--family", "hf_vlm", "--arch", "qwen2_vl"])
        if made.exit_code != 0:
            raise SystemExit(made.output)
        tasks = greedy_tasks(root / "tasks")
        server = serve(root / "qwen", root / "serve.log")
        served = next(server)
        try:
            print(f"shapes_vqa, {args.shots} shots, {args.samples} samples, --batch-size {args.batch_size}")
            print("| concurrency | requests/s | samples/s | latency ms |")
            print("| ---: | ---: | ---: | ---: |")
            for concurrency in args.concurrency:
                out = root / f"run-{concurrency}"
                print(measure(served.base_url, str(served.model_dir), tasks, out, concurrency, args), flush=True)
        finally:
            server.close()


if __name__ == "__main__":
    main()
