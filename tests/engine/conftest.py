"""The engine tests share the suite's memory factory (``make_memory``, from the root
conftest) and, for worker processes on PostgreSQL, the embedded server."""

from tests.pg import pg_server  # noqa: F401 - a fixture of the PostgreSQL worker tests
