"""A real OpenAI-compatible server for tests: ``transformers serve`` on a make-tiny hf_vlm model, on a loopback port."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fseval.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Served:
    model_dir: Path
    base_url: str
    process: subprocess.Popen[bytes]


def serve(model_dir: Path, log: Path) -> Iterator[Served]:
    """``transformers serve`` on ``model_dir`` until the generator is closed (its model id: the folder's path)."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "transformers"), "serve", str(model_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(base_url + "/models", timeout=2) as response:
                    json.loads(response.read())
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(log.read_text()[-2000:]) from None
                time.sleep(0.5)
        yield Served(model_dir, base_url, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``transformers serve`` on a make-tiny Qwen2-VL, for the session (each module that takes it starts its own:
    ``served = server_helpers.served``)."""
    root = tmp_path_factory.mktemp("served")
    result = CliRunner().invoke(app, ["make-tiny", str(root / "qwen"), "--family", "hf_vlm", "--arch", "qwen2_vl"])
    assert result.exit_code == 0, result.output
    yield from serve(root / "qwen", root / "serve.log")


def greedy_tasks(directory: Path) -> Path:
    """A tasks folder with shapes_vqa decoded greedily (an API has no beam search), under the same name."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load((ROOT / "tasks" / "shapes_vqa.yaml").read_text())
    spec["generation"]["num_beams"] = 1
    spec["data"]["default_dir"] = str(ROOT / "fseval" / spec["data"]["default_dir"])
    (directory / "shapes_vqa.yaml").write_text(yaml.safe_dump(spec))
    return directory


# -- a fault-injecting proxy in front of the server ------------------------------------------------------------------

FAULTS = ("429", "500", "timeout", "truncate", "drop")


def openai_error(message: str, kind: str, code: str | None = None) -> bytes:
    """An error body as OpenAI's API (and vLLM) shape it."""
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


def images_in(body: dict[str, Any]) -> int:
    return sum(
        1
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    )


@dataclass
class Proxy:
    """A loopback HTTP proxy to ``upstream`` that injects faults into sample requests on a fixed schedule.

    ``schedule`` maps the index of a sample request (a chat completion other than the preflight's one-token
    probes, counted from 0 in arrival order) to a fault of ``FAULTS``; ``timeout`` sleeps ``delay`` seconds and
    then closes the connection unanswered. ``key`` (when set) is demanded as the bearer token (401 otherwise);
    ``max_images`` refuses requests with more images (400); ``refuse_after`` answers every sample request from
    that index on with a 400 that will not heal. ``log`` holds each sample request: (index, fault or "ok",
    the body's hash); ``completions`` the hashes of those answered whole.
    """

    upstream: str
    schedule: dict[int, str] = field(default_factory=dict)
    delay: float = 2.0
    key: str | None = None
    max_images: int | None = None
    refuse_after: int | None = None
    log: list[tuple[int, str, str]] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def reset(self, **changes: Any) -> None:
        with self.lock:
            self.log.clear()
            self.completions.clear()
            defaults: dict[str, Any] = {"schedule": {}, "key": None, "max_images": None, "refuse_after": None}
            for name, value in {**defaults, **changes}.items():
                setattr(self, name, value)

    def faults(self) -> dict[str, int]:
        """How many sample requests met each fault."""
        counts = dict.fromkeys(FAULTS, 0)
        for _, fault, _ in self.log:
            if fault in counts:
                counts[fault] += 1
        return counts

    def refusal(self, handler: BaseHTTPRequestHandler, body: dict[str, Any] | None) -> tuple[int, bytes] | None:
        if self.key is not None and handler.headers.get("Authorization") != f"Bearer {self.key}":
            return 401, openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if body is not None and self.max_images is not None and images_in(body) > self.max_images:
            message = f"At most {self.max_images} image(s) may be provided in one request; got {images_in(body)}."
            return 400, openai_error(message, "BadRequestError")
        return None

    def sample_fault(self, body: dict[str, Any] | None, raw: bytes) -> str | None:
        """The fault this request meets (None: a probe or not a completion), logged."""
        if body is None or body.get("max_tokens") == 1:
            return None
        with self.lock:
            index = len(self.log)
            fault = self.schedule.get(index, "ok")
            if self.refuse_after is not None and index >= self.refuse_after:
                fault = "refused"
            self.log.append((index, fault, hashlib.sha256(raw).hexdigest()))
        return fault


def injected(fault: str | None) -> tuple[int, bytes]:
    """The answer to a request turned away: a 400 that will not heal, or a 429 or a 500 that will."""
    if fault == "refused":
        return 400, openai_error("This model is no longer served.", "BadRequestError")
    return int(fault or 500), openai_error(f"injected {fault}", "server_error")


class ProxyHandler(BaseHTTPRequestHandler):
    """One request to the proxy: refused, faulted, or forwarded upstream (the subclass ``proxy`` makes says where)."""

    proxy: Proxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.handle_request(None)

    def do_POST(self) -> None:
        self.handle_request(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def handle_request(self, raw: bytes | None) -> None:
        body = json.loads(raw) if raw else None
        refused = self.proxy.refusal(self, body)
        fault = self.proxy.sample_fault(body, raw or b"") if refused is None else None
        if refused is not None or fault in ("refused", "429", "500"):
            return self.reply(*(refused or injected(fault)))
        if fault in ("timeout", "drop"):
            time.sleep(self.proxy.delay if fault == "timeout" else 0)
            self.close_connection = True
            return self.connection.shutdown(socket.SHUT_RDWR)
        status, payload = self.forward(raw)
        if fault == "truncate":
            return self.reply(status, payload[: len(payload) // 2])
        if fault == "ok" and status == 200:
            with self.proxy.lock:
                self.proxy.completions.append(hashlib.sha256(raw or b"").hexdigest())
        return self.reply(status, payload)

    def forward(self, raw: bytes | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.proxy.upstream + self.path.removeprefix("/v1"), raw, headers)
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def proxy(upstream: str) -> Iterator[Proxy]:
    """A ``Proxy`` to ``upstream`` (a base URL ending in /v1) on a loopback port until the generator is closed."""
    state = Proxy(upstream.rstrip("/"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (ProxyHandler,), {"proxy": state}))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
