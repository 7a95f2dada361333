"""Measuring instruments for benchmarks and tests (bytes copied per decoding step, attention calls).

Nothing on a run's path imports these.
"""
