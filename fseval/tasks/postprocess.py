"""Cutting the answer out of a generation, as OpenFlamingo's evaluation does."""

from __future__ import annotations

import re
from collections.abc import Callable

from fseval.errors import UnknownNameError
from fseval.tasks.okvqa_stemming import stem


def vqa(generation: str) -> str:
    """OpenFlamingo's ``postprocess_vqa_generation``: text before the first Question/Answer/Short,
    then before the first ", ". Whitespace is left for the metric to strip."""
    answer = re.split("Question|Answer|Short", generation, maxsplit=1)[0]
    return re.split(", ", answer, maxsplit=1)[0]


def caption(generation: str) -> str:
    """OpenFlamingo's captioning post-processing: text before "Output", double quotes removed."""
    return generation.split("Output", 1)[0].replace('"', "")


def identity(generation: str) -> str:
    return generation


def okvqa(generation: str) -> str:
    """OpenFlamingo's ``postprocess_ok_vqa_generation``: the VQA cut, then its answer stemming."""
    return stem(vqa(generation))


POSTPROCESSORS: dict[str, Callable[[str], str]] = {"vqa": vqa, "okvqa": okvqa, "caption": caption, "none": identity}


def get_postprocessor(name: str) -> Callable[[str], str]:
    if name not in POSTPROCESSORS:
        raise UnknownNameError("post-processor", name, POSTPROCESSORS)
    return POSTPROCESSORS[name]
