"""HTTP to an OpenAI-compatible server: JSON requests, retried with backoff where a retry can help.

A 429, a 5xx, a timeout, a dropped connection and a body that is not whole JSON are retried (waiting
``backoff`` seconds, doubled each time, ``retries`` times); any other 4xx will not heal and is an
``FsevalError`` carrying the server's message. Standard library only (``urllib``), one connection a request.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from fseval.errors import FsevalError

RETRIED_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ServerError(FsevalError):
    """A request the server refused for good (a 4xx other than 429), with its status and message."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class Transient(Exception):
    """A failure a retry may not see again (429, 5xx, timeout, dropped connection, truncated body)."""


class Client:
    """Requests to ``base_url`` with the API key read from ``api_key_env`` (kept in memory only)."""

    def __init__(self, base_url: str, api_key_env: str, timeout: float, retries: int, backoff: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = os.environ.get(api_key_env, "")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.sent = 0  # HTTP requests sent, retries included
        self._lock = threading.Lock()

    def get(self, path: str) -> Any:
        return self.call("GET", path, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body)

    def call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """The response's JSON, after as many retries as transient failures need (then the last one's error)."""
        for attempt in range(self.retries + 1):
            try:
                return self._once(method, path, body)
            except Transient as error:
                if attempt == self.retries:
                    raise FsevalError(
                        f"{method} {self.base_url}{path} failed {attempt + 1} times; the last: {error}",
                        hint="Is the server up and not overloaded? --model-arg retries=N tries longer.",
                    ) from None
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data, headers, method=method)
        with self._lock:
            self.sent += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise self._refused(error) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise Transient(f"{type(error).__name__}: {error}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, ConnectionResetError)):
                raise Transient(str(error.reason)) from None
            raise FsevalError(
                f"Cannot reach {self.base_url}: {error.reason}.", hint="Check --model-arg base_url (and the port)."
            ) from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise Transient(f"a response that is not whole JSON ({error})") from None

    def _refused(self, error: urllib.error.HTTPError) -> Exception:
        try:
            detail = error.read().decode(errors="replace")[:500]
        except (OSError, http.client.HTTPException):
            detail = ""
        if error.code in RETRIED_STATUS:
            return Transient(f"HTTP {error.code} {detail}")
        hint = "Check the key in the variable --model-arg api_key_env names." if error.code in (401, 403) else None
        return ServerError(error.code, f"The server refused the request (HTTP {error.code}): {detail}", hint)
