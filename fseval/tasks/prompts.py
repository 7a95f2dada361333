"""Rendering a query and its demos into an interleaved prompt, OpenFlamingo's way.

Each demo is written with the task's demo template followed by the separator (``\\n`` for
generation tasks), then the query template. At 0 shots the Flamingo paper's convention keeps the
text of the (text-only) demos but removes their ``<image>`` markers and images; only the query
image is passed.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from fseval.errors import DataError
from fseval.tasks.spec import PromptTemplate
from fseval.types import IMAGE_TOKEN, MediaRef, Sample


def fill(template: str, sample: Sample) -> str:
    try:
        return template.format_map(sample.fields)
    except KeyError as e:
        raise DataError(
            f"Sample {sample.id!r} has no field {e} used by the prompt template {template!r}.",
            hint=f"Its fields are: {', '.join(sorted(sample.fields))}.",
        ) from e
    except IndexError as e:
        raise DataError(
            f"The prompt template {template!r} indexes past the end of a list field of sample {sample.id!r}.",
            hint=f"Its fields are: {', '.join(f'{k}={v!r}' for k, v in sorted(sample.fields.items()))[:400]}.",
        ) from e


def render(
    prompt: PromptTemplate, demos: Sequence[Sample], query: Sample, demo_media: bool = True, preamble: str = ""
) -> tuple[str, list[MediaRef]]:
    """The prompt text and its media in order; ``demo_media=False`` gives the text-only demos of 0 shots.

    ``preamble`` (the task's instruction, ``Task.preamble``) comes first, once.
    """
    context = preamble + "".join(fill(prompt.demo, demo) + prompt.separator for demo in demos)
    media = [m for demo in demos for m in demo.media] if demo_media else []
    if not demo_media:
        context = context.replace(IMAGE_TOKEN, "")
    return context + fill(prompt.query, query), [*media, *query.media]


def answer_fields(prompt: PromptTemplate) -> tuple[str, ...]:
    """The fields a demo shows and the query asks for: those its demo template reads and its query template does not.

    (``answers`` for VQA's ``{answers[0]}``, ``caption`` for captioning, ``label`` for classification.)
    """

    def read(template: str) -> set[str]:
        parsed = string.Formatter().parse(template)
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in parsed if name}

    return tuple(sorted(read(prompt.demo) - read(prompt.query)))
