"""Benchmark scripts, each run as ``python benchmarks/NAME.py`` (docs/BENCHMARKS.md).

A package so that one script can import another ahead of any other ``benchmarks``
package on the path."""
