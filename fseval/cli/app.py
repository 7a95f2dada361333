"""The ``fseval`` Typer app, its root options, and what its commands share (error panels, option parsing)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from fseval import __version__
from fseval.errors import FsevalError


def _plain_argument_names() -> None:
    """Typer 0.2x prints a Python type beside each argument's name (``RUN_DIR <list[Path]>``) and braces
    around required ones in the usage line (``{RUN_DIR}``); the metavar says what to give, as click's
    own help does (``RUN_DIR...``). Checked by tests/cli/test_cli.py's help test."""
    from typer.core import TyperArgument

    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):

        def usage_name(self: TyperArgument) -> str:
            name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
            return name + ("..." if self.nargs != 1 else "")

        TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


_plain_argument_names()
# Plain (click) help: value names a person reads, wrapped to the terminal, every option name whole.
app = typer.Typer(
    help="Few-shot evaluation of Flamingo-style visual language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
tasks_app = typer.Typer(help="List tasks, or show one with `fseval tasks show NAME`.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")

F = TypeVar("F", bound=Callable[..., Any])

TasksDir = Annotated[
    list[Path] | None,
    typer.Option(
        "--tasks-dir",
        help="Extra folder of task YAMLs (prompts in its prompts/); also $FSEVAL_TASKS_DIR.",
        metavar="DIR",
    ),
]


def user_errors(fn: F) -> F:
    """Show an FsevalError as one panel and exit 1; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FsevalError as e:
            from fseval.reports.display import error_panel

            error_panel(e.message, e.hint)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def split_list(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def parse_shots(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shots = tuple(int(s) for s in split_list([value]))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a comma-separated list of integers, e.g. 0,4,8.") from None
    if not shots:
        raise typer.BadParameter("give at least one shot count, e.g. 0,4,8.")
    if any(s < 0 for s in shots):
        raise typer.BadParameter("shot counts must be >= 0.")
    return tuple(dict.fromkeys(shots))  # each once, in the order given


def parse_model_args(values: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values that parse as JSON (numbers, true/false) are typed."""
    parsed: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--model-arg {item!r} should look like key=value.")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def existing_path(value: Any) -> Any:
    """``value`` made absolute if it names an existing file or folder (before a resume changes folder)."""
    return str(Path(value).resolve()) if isinstance(value, str) and value and Path(value).exists() else value


@contextmanager
def working_directory(folder: Path | None) -> Iterator[None]:
    previous = Path.cwd()
    if folder is not None:
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def device_callback(value: str) -> str:
    from fseval.devices import check_device_name

    try:
        return check_device_name(value)
    except FsevalError as e:
        raise typer.BadParameter(f"{e.message} {e.hint}") from None


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fseval {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the full traceback of an error (also $FSEVAL_DEBUG=1).")
    ] = False,
) -> None:
    """Few-shot evaluation of Flamingo-style visual language models."""
    if debug:
        os.environ["FSEVAL_DEBUG"] = "1"


ShowBreakdown = Annotated[
    bool, typer.Option(help="Also show each group's score (answer type, question type ...: the task's breakdown).")
]
LogTo = Annotated[
    list[str] | None,
    typer.Option(
        help="Also send the scores to tensorboard and/or wandb (installed separately), when the run ends.",
        metavar="TRACKER",
    ),
]
Labels = Annotated[
    list[str] | None,
    typer.Option(
        help="A name per run, in order (default: the folder, or model and seed where folders share a name).",
        metavar="NAME",
    ),
]


class _NoRandomWeightsNotice:
    """open_clip announces "No pretrained weights loaded" for every tower built from a config, as ours are."""

    def filter(self, record: Any) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """No library progress bars or notices in the middle of fseval's own (transformers' "Loading weights")."""
    import logging

    quiet = _NoRandomWeightsNotice()
    logging.getLogger().addFilter(quiet)
    previous = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        yield
    finally:
        logging.getLogger().removeFilter(quiet)
        if previous is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = previous
