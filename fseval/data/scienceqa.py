"""ScienceQA (Lu et al., "Learn to Explain", NeurIPS 2022) as released in github.com/lupantech/ScienceQA.

``problems.json`` maps each problem id (a string of digits) to ``question``, ``choices`` (texts), ``answer`` (the
right choice's index), ``hint`` (the text context, "" when none), ``image`` (``"image.png"``, or null when the
problem has no image), ``lecture``, ``solution``, ``subject``, ``topic``, ``category``, ``skill``, ``grade``
(``grade1`` ... ``grade12``), ``task`` and ``split``. ``pid_splits.json`` lists the ids of each split (``train``,
``val``, ``test``, ``minitest`` ...). A problem's image is ``images/<its split field>/<pid>/image.png`` (the
release's ``tools/download.sh`` unpacks ``images/{train,val,test}.zip`` there).

The IMG subset that IDEFICS reports is the problems with an image; only those are read, since every
prompt item holds its image. ``context`` is the hint, or "N/A" when it is empty, as the release's own prompts
(``models/base_prompt.py``) write an empty context. A sample's ``answer`` (and ``label``) is the right choice's
text, as prompts and the metric read it; ``answer_index`` is the released index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fseval.data.base import MediaRefs, read_json
from fseval.errors import DataError, require, require_list
from fseval.types import Sample

FIELDS = ("question", "choices", "answer", "hint", "image", "lecture", "solution", "subject", "topic", "grade", "split")
OPTIONAL = ("category", "skill", "task")


def _choices(problem: Any, path: Path, where: str) -> list[str]:
    choices = problem["choices"]
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise DataError(f"{path}: {where} field 'choices' should be a non-empty list of strings, found {choices!r}.")
    return choices


def _answer(problem: Any, choices: list[str], path: Path, where: str) -> int:
    answer = problem["answer"]
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise DataError(f"{path}: {where} field 'answer' should be a choice index from 0 to {len(choices) - 1}.")
    return answer


def _fields(pid: str, problem: Any, path: Path) -> dict[str, Any]:
    where = f"problem {pid!r}"
    for key in FIELDS:
        require(problem, key, path, where)
    choices = _choices(problem, path, where)
    answer = _answer(problem, choices, path, where)
    hint = problem["hint"] or ""
    fields: dict[str, Any] = {
        "pid": pid,
        **{key: problem[key] for key in FIELDS if key not in ("choices", "answer", "hint")},
        **{key: problem.get(key, "") for key in OPTIONAL},
        "hint": hint,
        "context": hint or "N/A",
        "choices": choices,
        "answer_index": answer,
        "answer": choices[answer],
        "label": choices[answer],
        "answers": [choices[answer]],  # as VQA records spell it, for tools written for those
    }
    return fields


def read_scienceqa(root: Path, problems_file: str, splits_file: str, split: str, images: str) -> list[Sample]:
    """The problems of ``split`` (in ``pid_splits.json`` order) that have an image, one sample each."""
    problems_path, splits_path = root / problems_file, root / splits_file
    problems = read_json(problems_path)
    if not isinstance(problems, dict):
        raise DataError(f"{problems_path}: the top level should map problem ids to problems.")
    pids = require_list(read_json(splits_path), split, splits_path)
    media = MediaRefs(root, images, problems_path)
    samples = []
    for pid in pids:
        pid = str(pid)
        if pid not in problems:
            raise DataError(f"{splits_path}: split {split!r} lists problem {pid!r}, which {problems_path} lacks.")
        problem = problems[pid]
        if require(problem, "image", problems_path, f"problem {pid!r}") is None:
            continue
        fields = _fields(pid, problem, problems_path)
        samples.append(Sample(id=pid, media=media(fields), fields=fields))
    return samples
