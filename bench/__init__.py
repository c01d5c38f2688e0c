"""Benchmarks: a load generator and scenarios that measure the message path.

`python bench/run.py` (full, `make bench`) or `python bench/run.py --quick --out FILE`.
See docs/benchmarks.md.
"""
