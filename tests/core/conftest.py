"""Fixtures for core tests: domain functions called on a real database (SQLite, or PostgreSQL
when WHARF_TEST_DB=postgresql), migrated and with the test admin, without an application or HTTP.
Each test gets its own copy of the session's migrated template (tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import DB_BACKEND, fresh_database
from wharf.db.engine import Database, Db
from wharf.db.models import LogEntry


@pytest.fixture
def db(tmp_path: Path, migrated_template: str) -> Iterator[Database]:
    """A migrated database of the test's own: call core functions with `db.run_write(fn, ...)`
    and `db.run_read(fn, ...)`, one transaction each, as the surfaces do."""
    if DB_BACKEND == "sqlite":
        path = tmp_path / "wharf.db"
        shutil.copyfile(migrated_template, path)
        database = Database(f"sqlite+aiosqlite:///{path}", pool_size=1)
        yield database
        database.dispose()
        return
    with fresh_database(migrated_template) as uri:
        assert uri is not None
        database = Database(uri, pool_size=1)
        yield database
        database.dispose()


@pytest.fixture
def audit_kinds(db: Database) -> Callable[[], list[str]]:
    """The kinds of the audit entries written so far, oldest first."""

    def kinds() -> list[str]:
        def read(c: Db) -> list[Any]:
            return list(c.execute(select(LogEntry.kind).order_by(LogEntry.id)).scalars())

        return [str(k) for k in db.run_read(read)]

    return kinds
