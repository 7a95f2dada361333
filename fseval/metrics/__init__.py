"""Metrics, each reproducing a benchmark's official definition."""

from fseval.metrics.registry import METRICS, Metric, MetricResult, get_metric, register_metric

__all__ = ["METRICS", "Metric", "MetricResult", "get_metric", "register_metric"]
