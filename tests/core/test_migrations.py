"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL: a model
change without its migration (or a migration that differs from the model) fails here, not on an
operator's upgrade."""

from __future__ import annotations

import json
import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from wharf.config import Settings
from wharf.db import revision
from wharf.db.engine import Database
from wharf.db.migrate import head_revision, upgrade
from wharf.db.models import Base


def test_migrations_match_the_models(settings: Settings) -> None:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    assert differences == [], "the models and the migrations differ: add a migration (docs/development.md)"


def test_a_tag_is_unique_only_among_live_tags(settings: Settings) -> None:
    """uq_tags_live is a partial index on both databases. db/models.py states the predicate for
    SQLite only (a postgresql_* option would load the PostgreSQL dialect into SQLite servers), and
    Alembic does not compare predicates: this checks what the migrations built."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                sql = "SELECT sql FROM sqlite_master WHERE name = 'uq_tags_live'"
            else:
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_tags_live'"
            definition = conn.execute(text(sql)).scalar_one()
    finally:
        db.dispose()
    assert "UNIQUE" in definition.upper()
    assert "WHERE" in definition.upper() and "lifetime_end_ms IS NULL" in definition, definition


@pytest.mark.parametrize("name", ["ix_tags_live_names", "ix_tags_live_modified"])
def test_the_live_tag_listing_indexes_are_partial(settings: Settings, name: str) -> None:
    """The Tags tab's and tags/list's indexes hold live tags only, on both databases (their
    PostgreSQL predicate is in the migrations only, as uq_tags_live's)."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                sql = "SELECT sql FROM sqlite_master WHERE name = :name"
            else:
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
            definition = conn.execute(text(sql), {"name": name}).scalar_one()
    finally:
        db.dispose()
    assert "WHERE" in definition.upper() and "lifetime_end_ms IS NULL" in definition, definition


def test_the_tags_version_triggers_exist_at_head(settings: Settings) -> None:
    """repositories.tags_version is kept by triggers (migration 0045), which Alembic does not
    compare, and which SQLite drops with their table: a migration that rebuilds `tags` in batch
    mode and forgets to create them again fails here, not as stale tag lists."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tags'"
            else:
                sql = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'tags'::regclass AND NOT tgisinternal"
            names = set(conn.execute(text(sql)).scalars())
    finally:
        db.dispose()
    assert names == {"tags_version_insert", "tags_version_update", "tags_version_delete"}


def test_the_recorded_head_is_the_newest_migration(settings: Settings) -> None:
    """/health/ready compares the database with db/revision.HEAD, not with Alembic's scripts."""
    assert head_revision() == revision.HEAD, "a new migration: set HEAD in src/wharf/db/revision.py"
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        assert db.run_read(revision.current) == revision.HEAD
    finally:
        db.dispose()


def test_0018_removes_roles_of_robots_from_other_namespaces(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Grants and default permissions that gave a robot a role outside its namespace (allowed before
    0018) are removed, each one logged and filed in the namespace's audit log; the rest stay."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db, "0017")
        with db.engine.begin() as conn:
            for id_, name, kind in (
                (1, "org", "org"),
                (2, "eve", "user"),
                (3, "eve+spy", "robot"),
                (4, "org+ci", "robot"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO accounts (id, name, kind, enabled, is_superuser, created_ms)"
                        " VALUES (:id, :name, :kind, true, false, 0)"
                    ),
                    {"id": id_, "name": name, "kind": kind},
                )
            for account, owner in ((3, 2), (4, 1)):
                conn.execute(
                    text(
                        "INSERT INTO robots"
                        " (account_id, owner_id, description, metadata_json, token_ciphertext)"
                        " VALUES (:a, :o, '', '{}', 'x')"
                    ),
                    {"a": account, "o": owner},
                )
            conn.execute(
                text(
                    "INSERT INTO repositories"
                    " (id, namespace_id, name, full_name, visibility, state, created_ms)"
                    " VALUES (1, 1, 'app', 'org/app', 'private', 0, 0)"
                )
            )
            for id_, account in ((1, 3), (2, 4)):
                conn.execute(
                    text(
                        "INSERT INTO repository_permissions (id, repository_id, account_id, role)"
                        " VALUES (:id, 1, :a, 'write')"
                    ),
                    {"id": id_, "a": account},
                )
            for prototype_id, account in (("p-foreign", 3), ("p-own", 4)):
                conn.execute(
                    text(
                        "INSERT INTO prototypes (id, org_id, delegate_account_id, role)"
                        " VALUES (:id, 1, :a, 'read')"
                    ),
                    {"id": prototype_id, "a": account},
                )
        with caplog.at_level(logging.WARNING, logger="wharf.migrate"):
            upgrade(db)
        with db.engine.connect() as conn:
            grants = conn.execute(text("SELECT account_id FROM repository_permissions")).scalars().all()
            prototypes = conn.execute(text("SELECT id FROM prototypes")).scalars().all()
            entries = conn.execute(
                text("SELECT kind, account_id, repository_id, metadata_json FROM log_entries ORDER BY id")
            ).all()
    finally:
        db.dispose()
    assert grants == [4] and prototypes == ["p-own"]
    assert "eve+spy's write role on org/app" in caplog.text and "p-foreign" in caplog.text
    assert [(e.kind, e.account_id, e.repository_id) for e in entries] == [
        ("delete_repo_permission", 1, 1),
        ("delete_prototype_permission", 1, None),
    ]
    assert json.loads(entries[0].metadata_json)["username"] == "eve+spy"


def test_0034_backfills_the_sizes_of_what_is_stored(settings: Settings) -> None:
    """Each blob once per repository and once per namespace, over manifests not deleted."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db, "0023")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (id, name, kind, enabled, is_superuser, created_ms)"
                    " VALUES (1, 'org', 'org', true, false, 0)"
                )
            )
            for id_, name in ((1, "a"), (2, "b")):
                conn.execute(
                    text(
                        "INSERT INTO repositories"
                        " (id, namespace_id, name, full_name, visibility, state, created_ms)"
                        " VALUES (:id, 1, :name, :full, 'private', 0, 0)"
                    ),
                    {"id": id_, "name": name, "full": f"org/{name}"},
                )
            for id_, size in ((1, 100), (2, 20), (3, 3)):
                conn.execute(
                    text("INSERT INTO blobs (id, digest, size, created_ms) VALUES (:id, :d, :s, 0)"),
                    {"id": id_, "d": f"sha256:{id_:064x}", "s": size},
                )
            # repository a: two manifests sharing blob 1; b: blob 1, and a deleted manifest of blob 3
            for id_, repo, deleted in ((1, 1, None), (2, 1, None), (3, 2, None), (4, 2, 5)):
                conn.execute(
                    text(
                        "INSERT INTO manifests (id, repository_id, digest, media_type, content, size,"
                        " created_ms, deleted_ms) VALUES (:id, :r, :d, 'm', :c, 1, 0, :deleted)"
                    ),
                    {"id": id_, "r": repo, "d": f"sha256:{id_:064x}", "c": b"{}", "deleted": deleted},
                )
            for manifest, blob in ((1, 1), (2, 1), (2, 2), (3, 1), (4, 3)):
                conn.execute(
                    text("INSERT INTO manifest_blobs (manifest_id, blob_id) VALUES (:m, :b)"),
                    {"m": manifest, "b": blob},
                )
        upgrade(db)
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT repository_id, size_bytes FROM quota_repository_sizes")).all()
            repos = {int(r[0]): int(r[1]) for r in rows}
            namespace = conn.execute(text("SELECT size_bytes FROM quota_namespace_sizes")).scalar_one()
            refs = conn.execute(
                text("SELECT repository_id, blob_id, refs FROM quota_repository_blobs ORDER BY 1, 2")
            ).all()
    finally:
        db.dispose()
    assert repos == {1: 120, 2: 100}
    assert namespace == 120
    assert [tuple(r) for r in refs] == [(1, 1, 2), (1, 2, 1), (2, 1, 1)]
