"""``fseval cache-features`` and ``make-tiny``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fseval.cli.app import TasksDir, app, device_callback, quiet_libraries, split_list, user_errors
from fseval.models.registry import FAMILIES


@app.command("cache-features")
@user_errors
def cache_features(
    task: Annotated[
        list[str], typer.Option("--task", "-t", help="Task name(s), repeated or comma-separated.", metavar="TASK")
    ],
    data_dir: Annotated[str | None, typer.Option(help="Dataset folder, as for fseval run.", metavar="DIR")] = None,
    rices_model: Annotated[str, typer.Option(help="open_clip model name or config JSON.", metavar="NAME")] = "ViT-L-14",
    rices_pretrained: Annotated[str, typer.Option(help="open_clip tag or weights file.", metavar="TAG")] = "openai",
    cache_dir: Annotated[Path | None, typer.Option(help="Feature cache folder.", metavar="DIR")] = None,
    device: Annotated[
        str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", callback=device_callback, metavar="DEVICE")
    ] = "auto",
    tasks_dir: TasksDir = None,
) -> None:
    """Precompute the CLIP image features --demos rices uses (demo split and evaluation split)."""
    from fseval.config import RicesSettings
    from fseval.progress import phase, reporting_to
    from fseval.reports.display import console, progress_bars
    from fseval.run.rices import cache_dir as feature_dir
    from fseval.run.rices import cached_embeddings
    from fseval.tasks.spec import load_tasks
    from fseval.tasks.task_data import load_task_data

    settings = RicesSettings(rices_model, rices_pretrained, cache_dir, device)
    with progress_bars() as progress, reporting_to(progress), quiet_libraries():
        for spec in load_tasks(split_list(task), tasks_dir or ()):
            with phase(f"Reading {spec.name}'s data"):
                data = load_task_data(spec, data_dir)
            pool = cached_embeddings(data.demo_pool, data.files["demo"], settings)
            queries = cached_embeddings(data.eval, data.files["eval"], settings)
            console.print(
                f"{spec.name}: {len(pool)} demo and {len(queries)} evaluation features in {feature_dir(settings)}"
            )


# make-tiny's choices, as the families declare them (settings.py: ``tiny=TinyModels(...)``).
TINY = {name: family.tiny for name, family in FAMILIES.items() if family.tiny is not None}


def tiny_variants(option: str) -> str:
    variants = next(tiny.variants for tiny in TINY.values() if tiny.option == option)
    return ", ".join([f"{variants[0]} (default)", *variants[1:]])


@app.command("make-tiny")
@user_errors
def make_tiny(
    directory: Annotated[Path, typer.Argument(help="Where to write the model directory.", metavar="DIR")],
    seed: Annotated[int, typer.Option(help="Same seed, same weights.", metavar="N")] = 0,
    family: Annotated[str, typer.Option(help=f"{', '.join(TINY)}.", metavar="FAMILY")] = "openflamingo",
    lm: Annotated[str | None, typer.Option(help=f"openflamingo's LM: {tiny_variants('--lm')}.", metavar="LM")] = None,
    arch: Annotated[
        str | None, typer.Option(help=f"hf_vlm's architecture: {tiny_variants('--arch')}.", metavar="ARCH")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace DIR if it holds files.")] = False,
) -> None:
    """Write a tiny random model directory (released layout + fseval model card); prints its path.

    DIR must be new or empty (or --force): the model is built beside it and moved into place
    when complete, so a failure leaves nothing and never half-replaces a model already there.
    """
    from fseval.models import registry
    from fseval.outputs import staged_folder

    build = registry.tiny_builder(family, {"--lm": lm, "--arch": arch})
    with staged_folder(directory, "make-tiny", force) as staging, quiet_libraries():
        build(staging, seed)
    typer.echo(str(directory))
