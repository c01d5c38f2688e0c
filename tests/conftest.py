"""Shared fixtures. Server-process fixtures live in tests/support/."""

pytest_plugins = ["tests.support.fixtures"]
