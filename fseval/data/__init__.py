"""Loaders of benchmarks' original release files."""
