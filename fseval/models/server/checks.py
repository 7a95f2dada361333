"""The served model's preflight, before any sample: the server answers, lists the model, takes the run's prompts.

1. ``GET /models``: an unreachable address, a refused key (401/403: the variable holding it named, never its
   value) and a model the server does not list are each one problem, named.
2. A probe request: one user message with ``max_images`` (the run's largest prompt's media items, or
   ``--model-arg max_images``) copies of an 8x8 grey image and one generated token. A server that caps images
   per prompt below that refuses it (vLLM: ``--limit-mm-per-prompt``), and the refusal is the problem.
3. With a rank task in the run: a request with ``prompt_logprobs``; a server that refuses the field or
   answers without it cannot rank (transformers serve, hosted APIs).
"""

from __future__ import annotations

import os
from typing import Any

from PIL import Image

from fseval.errors import FsevalError
from fseval.models.server.client import Client, ServerError
from fseval.models.server.messages import data_uri
from fseval.models.server.settings import ServerSettings
from fseval.models.settings import RunNeeds


def problems(args: dict[str, Any], needs: RunNeeds) -> list[str]:
    settings = ServerSettings.model_validate({k: v for k, v in args.items() if k != "name"})
    client = Client(settings.base_url, settings.api_key_env, min(settings.timeout, 30.0), 1, settings.backoff)
    try:
        listed = [str(entry.get("id")) for entry in client.get("/models").get("data", [])]
    except ServerError as error:
        if error.status in (401, 403):
            return [key_problem(settings, error)]
        return [f"{settings.base_url} does not answer GET /models: {error}"]
    except FsevalError as error:
        return [f"{settings.base_url} does not answer GET /models: {error}"]
    if settings.model not in listed:
        return [f"{settings.base_url} does not serve {settings.model!r} (it lists: {', '.join(listed) or 'nothing'})"]
    found = image_problems(client, settings, settings.max_images or needs.max_images)
    if needs.ranks and not found:
        found += rank_problems(client, settings)
    return found


def key_problem(settings: ServerSettings, error: ServerError) -> str:
    """A refused key, named by its variable (never by its value)."""
    variable = settings.api_key_env
    held = "holds a key it refuses" if os.environ.get(variable) else "is unset or empty"
    return f"{settings.base_url} refuses the API key (HTTP {error.status}): ${variable} {held}. {error}"


def probe(settings: ServerSettings, images: int) -> dict[str, Any]:
    uri = data_uri(Image.new("RGB", (8, 8), (128, 128, 128)))
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": uri}} for _ in range(images)]
    content.append({"type": "text", "text": "Describe."})
    return {
        "model": settings.model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0.0,
        "max_tokens": 1,
    }


def image_problems(client: Client, settings: ServerSettings, images: int) -> list[str]:
    """The server's answer to a prompt with ``images`` images (its refusal, when it caps them lower)."""
    try:
        client.post("/chat/completions", probe(settings, images))
    except FsevalError as error:
        return [f"{settings.model} refuses a prompt with {images} images, the most one of this run's carries: {error}"]
    return []


def rank_problems(client: Client, settings: ServerSettings) -> list[str]:
    body = {**probe(settings, 0), "prompt_logprobs": 0}
    try:
        response = client.post("/chat/completions", body)
    except FsevalError as error:
        return [f"rank tasks need prompt log-probabilities, which {settings.base_url} refuses: {error}"]
    if not isinstance(response.get("prompt_logprobs"), list):
        return [f"rank tasks need prompt log-probabilities (vLLM's prompt_logprobs); {settings.base_url} gives none"]
    return []
