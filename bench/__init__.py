"""Benchmarks of the MNIST lab: one command each (``python -m bench.NAME`` from the
repo root), each printing its figures and a one-line verdict against its goal.
Results and how to reproduce them: bench/RESULTS.md."""
