"""Models behind an OpenAI-compatible server (vLLM, SGLang, transformers serve, hosted APIs).

The request format is OpenAI's chat completions (https://platform.openai.com/docs/api-reference/chat);
prompt log-probabilities follow vLLM's ``prompt_logprobs`` extension.
"""

from __future__ import annotations

from fseval.models.server.adapter import ServerAdapter
from fseval.models.server.settings import ServerSettings


def build(settings: ServerSettings, *, name: str | None = None, preset: str | None = None) -> ServerAdapter:
    """The adapter for the served model: nothing loads here; the preflight checks already reached the server."""
    return ServerAdapter(settings, name=name or f"server:{settings.model}")
