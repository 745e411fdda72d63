"""Fixtures shared by every test tree: a real database (SQLite, or PostgreSQL when
WHARF_TEST_DB=postgresql), real blob storage (the filesystem, or a SeaweedFS S3 server when
WHARF_TEST_STORAGE=s3) and a real Wharf application with its data directory."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.seaweed import seaweed, unique_prefix
from wharf.app import WharfApp, build_app
from wharf.config import Settings, load_settings
from wharf.core import clock as domain_clock
from wharf.core.bootstrap import ensure_admin
from wharf.db.engine import Database
from wharf.db.migrate import current_revision, head_revision, upgrade

ADMIN_PASSWORD = "secret-admin-pw"
TEST_HOSTNAME = "registry.test"  # SERVER_HOSTNAME of test servers, and the host test clients call
DB_BACKEND = os.environ.get("WHARF_TEST_DB", "sqlite")
PG_URI = os.environ.get("WHARF_TEST_PG", "postgresql://postgres:wharf-test@127.0.0.1:5432/postgres")
STORAGE_BACKEND = os.environ.get("WHARF_TEST_STORAGE", "filesystem")
__all__ = ["seaweed"]  # the session's SeaweedFS server, a fixture for every test tree

# scripts/test installs every tool the tests use and sets this: a test that would skip for lack
# of one (a package missing from scripts/install-system-deps) then fails instead of silently
# leaving its feature untested in CI.
ALL_TOOLS_INSTALLED = os.environ.get("WHARF_TEST_ALL_TOOLS") == "1"
_MISSING_TOOL = re.compile(r"not installed|install-system-deps|apt-get install|needs slapd|needs the Go")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    _fail_when_a_tool_is_missing(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield  # a module that skips itself (allow_module_level) is skipped here
    _fail_when_a_tool_is_missing(outcome.get_result())


def _fail_when_a_tool_is_missing(report: pytest.TestReport | pytest.CollectReport) -> None:
    if ALL_TOOLS_INSTALLED and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if _MISSING_TOOL.search(reason):
            report.outcome = "failed"
            report.longrepr = f"WHARF_TEST_ALL_TOOLS=1 but a tool is missing: {reason}"


def _admin_sql(statement: str) -> None:
    with psycopg.connect(PG_URI, autocommit=True) as conn:
        conn.execute(statement)


@contextmanager
def fresh_database(template: str | None = None) -> Iterator[str | None]:
    """None means the embedded default (SQLite in the data dir); else a fresh PostgreSQL database,
    a copy of the database `template` when one is named."""
    if DB_BACKEND == "sqlite":
        yield None
        return
    if DB_BACKEND != "postgresql":
        raise RuntimeError(f"WHARF_TEST_DB must be sqlite or postgresql, not {DB_BACKEND!r}")
    name = f"wharf_test_{uuid.uuid4().hex[:12]}"
    _admin_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    yield _pg_uri(name)
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_uri(name: str) -> str:
    base, _, _ = PG_URI.rpartition("/")
    return f"{base}/{name}"


def _migrate(uri: str) -> None:
    """Bring a database to the code's head with the test admin, unless it is there already."""
    db = Database(uri, pool_size=1)
    try:
        with db.engine.connect() as conn:
            at_head = current_revision(conn) == head_revision()
        if not at_head:
            upgrade(db)
            db.run_write(ensure_admin, ADMIN_PASSWORD)
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database at the code's head with the test admin, made once per session: each in-process
    test's database starts as a copy of it (running every migration cost about a second a test).
    For SQLite, the path of a database file; for PostgreSQL, the name of a template database."""
    if DB_BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("template") / "wharf.db"
        _migrate(f"sqlite+aiosqlite:///{path}")
        # The last connection's close checkpoints the WAL into the file, so the file is whole.
        assert not path.with_name("wharf.db-wal").exists()
        yield str(path)
        return
    name = f"wharf_template_{uuid.uuid4().hex[:12]}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    try:
        _migrate(_pg_uri(name))
        yield name
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_uri(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A fresh database: an empty one for tests that start real `wharf` processes (they migrate
    and create their own admin), a copy of the migrated template for in-process apps."""
    template = None
    if DB_BACKEND == "postgresql" and "wharf" in request.fixturenames:
        template = request.getfixturevalue("migrated_template")
    with fresh_database(template) as uri:
        yield uri


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def storage_config(request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings for the blob store: none for the filesystem, else an S3 location of its own."""
    if STORAGE_BACKEND == "filesystem":
        return {}
    if STORAGE_BACKEND != "s3":
        raise RuntimeError(f"WHARF_TEST_STORAGE must be filesystem or s3, not {STORAGE_BACKEND!r}")
    server = request.getfixturevalue("seaweed")
    # The in-process client cannot follow a redirect to the S3 server: blobs are streamed.
    return {"DISTRIBUTED_STORAGE_CONFIG": server.quay_config(unique_prefix()), "STORAGE_REDIRECT": False}


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, storage_config: dict[str, object]) -> Settings:
    # SERVER_HOSTNAME is the name the test clients use (base_url below): links never come from Host.
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, "SERVER_HOSTNAME": TEST_HOSTNAME, **storage_config}
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def wharf(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[WharfApp]:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    embedded = settings.DATA_DIR / "wharf.db"
    if settings.DB_URI is None and not embedded.exists():
        shutil.copyfile(request.getfixturevalue("migrated_template"), embedded)
    _migrate(settings.db_uri)
    app = build_app(settings, run_workers=False)
    yield app
    await app.rt.close()


@pytest.fixture
async def client(wharf: WharfApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=wharf, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{TEST_HOSTNAME}") as c:
        yield c


class Clock:
    """The domain's clock (wharf.core.clock) for one test: `advance(seconds)` makes that much
    time pass for the code under test at once; it goes back to the machine's clock after."""

    def now_ms(self) -> int:
        return domain_clock.now_ms()

    def advance(self, seconds: float) -> None:
        domain_clock.advance(seconds)


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()
    domain_clock.reset()
