"""Registry of metrics: a short name -> a function scoring a whole evaluation set."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fseval.errors import FsevalError, UnknownNameError
from fseval.metrics.formats import ResultFormat
from fseval.metrics.stats import Resampler, mean_resampler


@dataclass(frozen=True)
class MetricResult:
    """``value`` is the headline number as papers report it; ``per_sample`` scores each sample.

    ``resample`` recomputes ``value`` on resamples of the samples (for bootstrap intervals); by
    default ``value`` is taken to be 100 x the mean of ``per_sample``.
    """

    value: float
    per_sample: list[float]
    extra: dict[str, float] = field(default_factory=dict)
    resample: Resampler | None = None

    def resampler(self) -> Resampler:
        return self.resample or mean_resampler(self.per_sample)


ScoreFn = Callable[[Sequence[Any], Sequence[Mapping[str, Any]], str], MetricResult]
"""(predictions, each sample's fields, variant) -> result. Predictions are strings for generation
tasks and ``classification.Ranked`` for ranking tasks."""


TargetCheck = Callable[[Mapping[str, Any]], str | None]
"""A sample's fields -> why its targets cannot be scored (None: they can)."""


EnvironmentCheck = Callable[[str], list[str]]
"""A variant -> what this machine lacks to score with it (Java, a WordNet database), each with what to install."""


@dataclass(frozen=True)
class Metric:
    """A metric and the facts about it that the rest of fseval needs, in one place."""

    name: str
    score: ScoreFn
    variants: tuple[str, ...]
    default_variant: str
    description: str
    target_fields: tuple[str, ...]  # the sample fields it reads (recorded per sample as targets)
    result_format: ResultFormat  # its benchmark's standard results file (fseval score)
    mode: str = "generate"  # what it scores: generated text ("generate") or ranked candidates ("rank")
    per_sample_mean: bool = True  # the value is 100 x the mean of per_sample, so paired differences measure it
    headline: str = ""  # what the value is, where the name does not say (caption: CIDEr)
    check_target: TargetCheck | None = None  # why a sample's targets cannot be scored (before any model runs)
    environment: EnvironmentCheck | None = None  # what the machine lacks to score (before any model loads)

    def missing(self, variant: str) -> list[str]:
        """What this machine lacks to score ``variant`` (empty: nothing)."""
        return self.environment(variant) if self.environment is not None else []

    @property
    def label(self) -> str:
        return self.headline or self.name

    def check_variant(self, variant: str | None) -> str:
        variant = variant or self.default_variant
        if variant not in self.variants:
            raise FsevalError(
                f"Metric {self.name!r} has no variant {variant!r}.",
                hint=f"Choose one of: {', '.join(self.variants)} (--metric-variant).",
            )
        return variant


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    variants: Sequence[str],
    default_variant: str,
    description: str,
    result_format: ResultFormat,
    target_fields: Sequence[str] = (),
    mode: str = "generate",
    per_sample_mean: bool = True,
    headline: str = "",
    check_target: TargetCheck | None = None,
    environment: EnvironmentCheck | None = None,
) -> Callable[[ScoreFn], ScoreFn]:
    """Register ``fn`` under ``name`` with its facts (see ``Metric``)."""

    def decorator(fn: ScoreFn) -> ScoreFn:
        METRICS[name] = Metric(
            name,
            fn,
            tuple(variants),
            default_variant,
            description,
            tuple(target_fields),
            result_format,
            mode,
            per_sample_mean,
            headline,
            check_target,
            environment,
        )
        return fn

    return decorator


def get_metric(name: str) -> Metric:
    """A registered metric (``fseval.metrics`` imports every metric module, which registers it)."""
    if name not in METRICS:
        raise UnknownNameError("metric", name, METRICS)
    return METRICS[name]
