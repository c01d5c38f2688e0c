"""Helpers for the tools around the product: child processes (imserver, Redis,
PostgreSQL databases) for the tests and the benchmark. Imports nothing of the
product and nothing of `tests` or `bench`, so both can use it.
"""
