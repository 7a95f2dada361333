"""The server family's adapter: each prompt one chat-completions request, ``concurrency`` of them in flight.

Decoding is greedy (temperature 0, the task's ``max_new_tokens``, the request's ``seed``); an API has no
beam search, so a task's ``num_beams`` is not sent (``describe`` says so). The interleaved style stops
at a newline, as its demos end (sent as a stop string, and cut here as well); the chat style at the end
of the assistant's turn. Ranking reads the candidate's tokens off vLLM's ``prompt_logprobs``: the
prompt with the candidate as the start of the assistant's answer (``continue_final_message``), minus
the prompt-only request's length. Token usage is summed over every response (``usage``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fseval.errors import FsevalError
from fseval.models.base import ModelAdapter
from fseval.models.server.client import Client
from fseval.models.server.messages import data_uri, messages
from fseval.models.server.settings import ServerSettings
from fseval.types import IMAGE_TOKEN, GenerationSettings, Prompt

NEWLINE = "\n"


class ServerStopped(RuntimeError):
    """A request that failed for good in the middle of a run (a 4xx that will not heal, retries spent).

    Not an ``FsevalError``: the run stops as on any error inside it, saying what is saved and how to resume.
    """


class ServerAdapter(ModelAdapter):
    """Generation (and, where the server gives prompt log-probabilities, ranking) through HTTP requests."""

    def __init__(self, settings: ServerSettings, *, name: str = "server") -> None:
        self.settings, self.name = settings, name
        retrying = (settings.timeout, settings.retries, settings.backoff)
        self.client = Client(settings.base_url, settings.api_key_env, *retrying)
        self.pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="fseval-server")
        self.tokens = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0}
        self._lock = threading.Lock()

    # -- requests ----------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        return [NEWLINE] if self.settings.prompt_style == "interleaved" else []

    def request(self, text: str, media: Sequence[Sequence[str]], settings: GenerationSettings) -> dict[str, Any]:
        """The chat-completions body for a prompt whose media items have ``media``'s URLs."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages(self.settings.prompt_style, text, media),
            "temperature": 0.0,
            "max_tokens": settings.max_new_tokens,
            "seed": self.settings.seed,
        }
        if self.stop() and self.settings.send_stop:
            body["stop"] = self.stop()
        return body

    def model_text(self, text: str, videos: Sequence[bool] = ()) -> str:
        """The request as sent (recorded as model_prompt), each image part's URL ``media[i]``: the i-th of the
        sample's ``media`` keys (a clip: one part per frame, each so named)."""
        count = text.count(IMAGE_TOKEN)
        body = self.request(text, [[f"media[{i}]"] for i in range(count)], GenerationSettings())
        body.pop("max_tokens")
        return json.dumps(body, ensure_ascii=False)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.client.post("/chat/completions", body)
        usage = response.get("usage") or {}
        with self._lock:
            self.tokens["requests"] += 1
            for key in ("prompt_tokens", "completion_tokens"):
                self.tokens[key] += int(usage.get(key) or 0)
        return response

    def _answer(self, prompt: Prompt, settings: GenerationSettings) -> str:
        urls = [[data_uri(frame.convert("RGB")) for frame in media.frames] for media in prompt.media]
        response = self._post(self.request(prompt.text, urls, settings))
        try:
            text = str(response["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise FsevalError(f"The server's response has no answer: {json.dumps(response)[:300]}") from None
        for stop in self.stop():
            text = text.split(stop, 1)[0]
        return text

    # -- the adapter contract ------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], settings: GenerationSettings) -> list[str]:
        try:
            return list(self.pool.map(lambda prompt: self._answer(prompt, settings), prompts))
        except FsevalError as error:
            raise ServerStopped(str(error)) from error

    def rank(self, prompts: Sequence[Prompt], candidates: Sequence[Sequence[str]]) -> list[list[list[float]]]:
        jobs = [(p, c) for p, row in zip(prompts, candidates, strict=True) for c in ("", *row)]
        try:
            scored = list(self.pool.map(lambda job: self._prompt_logprobs(*job), jobs))
        except FsevalError as error:
            raise ServerStopped(str(error)) from error
        result, index = [], 0
        for row in candidates:
            base = len(scored[index])
            result.append([scored[index + 1 + j][base:] for j in range(len(row))])
            index += 1 + len(row)
        return result

    def _prompt_logprobs(self, prompt: Prompt, answer: str) -> list[float]:
        """The log-probability of each prompt token with ``answer`` begun as the assistant's reply (vLLM)."""
        urls = [[data_uri(frame.convert("RGB")) for frame in media.frames] for media in prompt.media]
        body = self.request(prompt.text, urls, GenerationSettings(max_new_tokens=1))
        body["messages"].append({"role": "assistant", "content": answer})
        body.update(prompt_logprobs=0, add_generation_prompt=False, continue_final_message=True)
        body.pop("stop", None)
        rows = self._post(body).get("prompt_logprobs")
        if not isinstance(rows, list):
            raise FsevalError(f"{self.settings.base_url} gives no prompt_logprobs: it cannot rank candidates.")
        return [float(next(iter(row.values()))["logprob"]) if row else 0.0 for row in rows]

    def usage(self) -> dict[str, int]:
        with self._lock:
            return dict(self.tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "family": "server",
            "name": self.name,
            "server_model": self.settings.model,
            "arguments": self.settings.model_dump(exclude={"concurrency", "timeout", "retries", "backoff"}),
            "decoding": "greedy (temperature 0; a task's num_beams is not sent)",
        }

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
