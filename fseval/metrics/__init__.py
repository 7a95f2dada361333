"""Metrics, each reproducing a benchmark's official definition.

A metric module registers its metrics with ``register_metric``; importing this package imports
every module in it (a folder scan, so a new metric is one new module), and ``get_metric`` and
``METRICS`` then know them all.
"""

import importlib
import pkgutil

from fseval.metrics.registry import METRICS, Metric, MetricResult, get_metric, register_metric

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METRICS", "Metric", "MetricResult", "get_metric", "register_metric"]
