"""The server fixtures (store, keys, TestClient) for the sharing tests."""

from tests.server.conftest import client, memory, tenants

__all__ = ["client", "memory", "tenants"]
