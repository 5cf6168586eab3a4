"""Runs: the run directory, its summary, loading a run back, the centralized run, sweeps."""
