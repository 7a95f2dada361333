"""Metrics, each reproducing a benchmark's official definition.

A metric module registers its metrics with ``register_metric``; importing this package imports
every metric module, so ``get_metric`` and ``METRICS`` know them all.
"""

from fseval.metrics import captioning, classification, exact_match, vqa
from fseval.metrics.registry import METRICS, Metric, MetricResult, get_metric, register_metric

__all__ = [
    "METRICS",
    "Metric",
    "MetricResult",
    "captioning",
    "classification",
    "exact_match",
    "get_metric",
    "register_metric",
    "vqa",
]
