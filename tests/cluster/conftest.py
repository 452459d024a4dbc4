"""Fixtures of the many-node tests: the store tests' private redis-server."""

from tests.store.conftest import redis_server

__all__ = ["redis_server"]
