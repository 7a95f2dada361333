"""``fseval cache-features`` and ``make-tiny``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from fseval.cli.app import TasksDir, app, device_callback, quiet_libraries, split_list, user_errors


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


@app.command("make-tiny")
@user_errors
def make_tiny(
    directory: Annotated[Path, typer.Argument(help="Where to write the model directory.", metavar="DIR")],
    seed: Annotated[int, typer.Option(help="Same seed, same weights.", metavar="N")] = 0,
    family: Annotated[str, typer.Option(help="openflamingo, idefics or hf_vlm.", metavar="FAMILY")] = "openflamingo",
    lm: Annotated[
        str,
        typer.Option(help="OpenFlamingo LM family: gpt_neox, mpt, mosaic_gpt, llama, opt, gptj, gpt2.", metavar="LM"),
    ] = "gpt_neox",
    arch: Annotated[
        str,
        typer.Option(
            help="hf_vlm architecture: idefics2, idefics3, qwen2_vl, qwen2_5_vl, llava_onevision.", metavar="ARCH"
        ),
    ] = "idefics2",
    force: Annotated[bool, typer.Option("--force", help="Replace DIRECTORY if it holds files.")] = False,
) -> None:
    """Write a tiny random model directory (released layout + fseval model card); prints its path.

    DIRECTORY must be new or empty (or --force): the model is built beside it and moved into place
    when complete, so a failure leaves nothing and never half-replaces a model already there.
    """
    from fseval.outputs import staged_folder

    build = tiny_builder(family, lm, arch)
    with staged_folder(directory, "make-tiny", force) as staging, quiet_libraries():
        build(staging, seed)
    typer.echo(str(directory))


def tiny_builder(family: str, lm: str, arch: str) -> Callable[[Path, int], object]:
    """The writer of a tiny model of ``family`` (checked before anything is written)."""
    if family == "openflamingo":
        from fseval.models.openflamingo import make_tiny
        from fseval.models.openflamingo.tiny import LM_FAMILIES

        if lm not in LM_FAMILIES:
            raise typer.BadParameter(f"must be one of {', '.join(LM_FAMILIES)}.", param_hint="--lm")
        return lambda where, seed: make_tiny(where, seed=seed, lm_family=lm)
    if family == "idefics":
        from fseval.models.idefics import make_tiny_idefics

        return lambda where, seed: make_tiny_idefics(where, seed=seed)
    if family == "hf_vlm":
        from fseval.models.hf_vlm.tiny import BUILDERS, make_tiny_hf_vlm

        if arch not in BUILDERS:
            raise typer.BadParameter(f"must be one of {', '.join(BUILDERS)}.", param_hint="--arch")
        return lambda where, seed: make_tiny_hf_vlm(where, arch=arch, seed=seed)
    raise typer.BadParameter("must be openflamingo, idefics or hf_vlm.", param_hint="--family")
