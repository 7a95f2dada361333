"""The server family's arguments: a model behind an OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fseval.models.settings import Family, FamilySettings


class ServerSettings(FamilySettings):
    """``--model-arg`` keys of the server family, each declared once; the adapter gets the object whole."""

    base_url: str = Field(description="the API's root, e.g. http://localhost:8000/v1 (vLLM, transformers serve)")
    model: str = Field(description="the served model's id, as GET {base_url}/models lists it")
    api_key_env: str = Field(
        default="OPENAI_API_KEY", description="the environment variable holding the API key (never recorded)"
    )
    prompt_style: Literal["chat", "interleaved"] = Field(
        default="chat", description="chat (a turn per demo) or interleaved (one user message, parts in order)"
    )
    concurrency: int = Field(default=4, gt=0, description="speed: requests in flight at once")
    timeout: float = Field(default=120.0, gt=0, description="seconds to wait for one response")
    retries: int = Field(default=8, ge=0, description="tries after a 429, a 5xx, a timeout or a broken response")
    backoff: float = Field(default=0.5, ge=0, description="seconds before the first retry, doubled each time")
    seed: int = Field(default=0, description="the request's seed, for servers that sample with one")
    send_stop: bool = Field(
        default=True,
        description="send the stop strings to the server (transformers serve fails on them for VLMs: false); "
        "answers are cut at them on this side either way",
    )
    max_images: int | None = Field(
        default=None, gt=0, description="the images the preflight probe sends (None: the run's largest prompt's)"
    )


FAMILY = Family(
    "server",
    "A model behind an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, transformers serve, hosted APIs)",
    ServerSettings,
    "fseval.models.server:build",
    takes_device=False,
    run_checks="fseval.models.server.checks:problems",
)
