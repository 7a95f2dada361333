"""The ``fseval`` command line. Heavy imports (torch, models) happen inside the commands.

``app`` (``cli/app.py``) holds the Typer app and what commands share; each module registers its
commands on it: ``run``, ``show`` (score, show, tasks, models), ``compare`` (compare, check,
plot, report), ``icl`` (the ICL analysis view), ``export`` (test-server submission files) and ``tools``
(cache-features, make-tiny).
"""

from __future__ import annotations

import importlib
import os
import sys

from fseval.cli.app import app, parse_model_args, parse_shots

for _commands in ("run", "show", "compare", "icl", "export", "tools"):  # each registers its commands, in --help's order
    importlib.import_module(f"fseval.cli.{_commands}")

__all__ = ["app", "main", "parse_model_args", "parse_shots"]


def main() -> None:
    # fseval downloads nothing unless asked: models and data come from local files and the Hugging Face
    # cache, so an offline Hub fails at once instead of after network timeouts.
    if not os.environ.get("FSEVAL_ALLOW_DOWNLOADS"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        app()
    except BrokenPipeError:  # `fseval show RUN --format csv | head`: the reader left; that is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
