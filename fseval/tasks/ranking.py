"""A rank task's candidates for a sample, and its predictions rebuilt from stored records.

Every candidate's score is stored (``SampleRecord.scores``, in candidate order), so a resumed run and
``fseval score`` of a run directory hand the metric the same ``Ranked`` the run scored.
"""

from __future__ import annotations

from typing import Any

from fseval.record import SampleRecord
from fseval.tasks.spec import Task
from fseval.types import Ranked, Sample


def candidates_for(task: Task, sample: Sample) -> list[str]:
    """The task's fixed candidates, or the sample's own (``rank.candidates_field``)."""
    rank = task.spec.rank
    assert rank is not None
    fixed = rank.fixed()
    if fixed is not None:
        return fixed
    assert rank.candidates_field is not None
    return list(sample.fields[rank.candidates_field])


def stored_prediction(task: Task, sample: Sample, record: SampleRecord) -> Any:
    """What the metric scored for a stored sample: its text, or for a rank task every candidate's score.

    Records from before ``scores`` was stored give their top 5 candidates.
    """
    if task.spec.mode != "rank":
        return record.prediction
    if record.scores is None:
        return Ranked.from_scores({label: score for label, score in record.ranking or []})
    return Ranked.from_scores(dict(zip(candidates_for(task, sample), record.scores, strict=True)))
