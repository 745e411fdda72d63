"""Fixtures shared by every test tree: a real database (SQLite, or PostgreSQL when
WHARF_TEST_DB=postgresql), real blob storage (the filesystem, or a SeaweedFS S3 server when
WHARF_TEST_STORAGE=s3) and a real Wharf application with its data directory."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.seaweed import seaweed, unique_prefix
from wharf.app import WharfApp, build_app
from wharf.config import Settings, load_settings
from wharf.core.bootstrap import ensure_admin
from wharf.db.engine import Database
from wharf.db.migrate import upgrade

ADMIN_PASSWORD = "secret-admin-pw"
TEST_HOSTNAME = "registry.test"  # SERVER_HOSTNAME of test servers, and the host test clients call
DB_BACKEND = os.environ.get("WHARF_TEST_DB", "sqlite")
PG_URI = os.environ.get("WHARF_TEST_PG", "postgresql://postgres:wharf-test@127.0.0.1:5432/postgres")
STORAGE_BACKEND = os.environ.get("WHARF_TEST_STORAGE", "filesystem")
__all__ = ["seaweed"]  # the session's SeaweedFS server, a fixture for every test tree


def _admin_sql(statement: str) -> None:
    with psycopg.connect(PG_URI, autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


@contextmanager
def fresh_database() -> Iterator[str | None]:
    """None means the embedded default (SQLite in the data dir); else a fresh PostgreSQL database."""
    if DB_BACKEND == "sqlite":
        yield None
        return
    if DB_BACKEND != "postgresql":
        raise RuntimeError(f"WHARF_TEST_DB must be sqlite or postgresql, not {DB_BACKEND!r}")
    name = f"wharf_test_{uuid.uuid4().hex[:12]}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URI.rpartition("/")
    yield f"{base}/{name}"
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_uri() -> Iterator[str | None]:
    with fresh_database() as uri:
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
async def wharf(settings: Settings) -> AsyncIterator[WharfApp]:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        db.run_write(ensure_admin, ADMIN_PASSWORD)
    finally:
        db.dispose()
    app = build_app(settings, run_workers=False)
    yield app
    await app.rt.close()


@pytest.fixture
async def client(wharf: WharfApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=wharf, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{TEST_HOSTNAME}") as c:
        yield c
