"""The PostgreSQL server fixture (``tests/pg.py``) for these tests."""

from tests.pg import pg_server

__all__ = ["pg_server"]
