"""The passwords of mirrors' proxy URLs on a real database: sealed in the row, never in clear; a
row written before migration 0046 read as it is, sealed at its next write or by `seal_stored`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from tests.core.test_org_mirrors import _org
from tests.core.test_org_mirrors import _settings as _org_settings
from wharf.core import mirrors, org_mirror_repos, org_mirrors, proxy_passwords, repositories
from wharf.core.errors import InvalidInput
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db

BOX = SecretBox("test-key")
CLEAR = "socks5h://puller:pr0xy-pw@proxy.example.com:1080"
HIDDEN = "socks5h://puller:********@proxy.example.com:1080"
CONFIG: dict[str, Any] = {"verify_tls": True, "proxy": {"https_proxy": CLEAR, "no_proxy": "internal"}}


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "mirrored", visibility="private", actor=None)


def _create(db: Database, repo: RepositoryRecord, config: dict[str, Any]) -> mirrors.MirrorRecord:
    settings = mirrors.Settings(
        external_reference="registry.example.com/proj/app",
        root_rule={"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
        external_registry_config=config,
    )
    return db.run_write(mirrors.create, BOX, repo, settings, None)


def _row(table: str, key: str, row_id: int) -> Callable[[Db], tuple[str, str | None]]:
    def read(db: Db) -> tuple[str, str | None]:
        statement = text(
            f"SELECT external_registry_config, proxy_passwords_sealed FROM {table} WHERE {key} = :id"
        )
        found = db.execute(statement, {"id": row_id}).one()
        return str(found[0]), found[1]

    return read


def _repo_row(db: Database, repo: RepositoryRecord) -> tuple[str, str | None]:
    return db.run_read(_row("repo_mirror_configs", "repository_id", repo.id))


def _write_as_before(table: str, key: str, row_id: int, config: dict[str, Any]) -> Callable[[Db], None]:
    def write(db: Db) -> None:
        db.execute(
            text(
                f"UPDATE {table} SET external_registry_config = :c, proxy_passwords_sealed = NULL"
                f" WHERE {key} = :id"
            ),
            {"c": json.dumps(config), "id": row_id},
        )

    return write


def test_a_proxy_password_is_stored_sealed_and_opens_for_the_outbound_calls(
    db: Database, repo: RepositoryRecord
) -> None:
    record = _create(db, repo, CONFIG)
    stored, sealed = _repo_row(db, repo)
    assert "pr0xy-pw" not in stored and "pr0xy-pw" not in str(sealed) and sealed is not None
    assert json.loads(stored)["proxy"] == {"https_proxy": HIDDEN, "no_proxy": "internal"}
    assert record.external_registry_config == json.loads(stored)
    assert record.outbound_config(BOX) == CONFIG
    assert mirrors.describe(record, BOX)["external_registry_config"] == json.loads(stored)
    with pytest.raises(proxy_passwords.Unopened):
        record.outbound_config(SecretBox("another key"))

    # sent back as shown: the same token, no password opened; another field's HIDDEN is refused
    shown = mirrors.shown_registry_config(record.external_registry_config)
    kept = db.run_write(mirrors.change, BOX, repo, mirrors.Settings(external_registry_config=shown), None)
    assert kept.proxy_passwords_sealed == sealed
    moved = {"proxy": {"http_proxy": HIDDEN}}
    with pytest.raises(InvalidInput, match="http_proxy"):
        db.run_write(mirrors.change, BOX, repo, mirrors.Settings(external_registry_config=moved), None)
    # no proxy, no password
    none = db.run_write(mirrors.change, BOX, repo, mirrors.Settings(external_registry_config={}), None)
    assert none.proxy_passwords_sealed is None and _repo_row(db, repo) == ("{}", None)


def test_an_organization_mirror_seals_its_proxy_password_and_hands_it_on(db: Database) -> None:
    org = _org(db, "mirrored")
    config = db.run_write(
        org_mirrors.create, BOX, org, _org_settings(org, external_registry_config=CONFIG), None
    )
    stored, sealed = db.run_read(_row("org_mirror_configs", "org_id", org.id))
    assert "pr0xy-pw" not in stored + str(sealed) and HIDDEN in stored
    assert config.outbound_config(BOX) == CONFIG
    repo = db.run_write(org_mirror_repos.adopt, BOX, org, config, "web")
    assert repo is not None
    mirror = db.run_read(mirrors.require, repo.id)
    assert mirror.outbound_config(BOX)["proxy"]["https_proxy"] == CLEAR
    assert "pr0xy-pw" not in str(_repo_row(db, repo))


def test_a_row_from_before_is_read_as_it_is_and_sealed_at_its_next_write(
    db: Database, repo: RepositoryRecord
) -> None:
    _create(db, repo, {})
    db.run_write(_write_as_before("repo_mirror_configs", "repository_id", repo.id, CONFIG))
    record = db.run_read(mirrors.require, repo.id)
    assert record.outbound_config(BOX) == CONFIG
    assert mirrors.describe(record, BOX)["external_registry_config"]["proxy"]["https_proxy"] == HIDDEN
    # a write that does not touch the configuration seals it all the same
    db.run_write(mirrors.change, BOX, repo, mirrors.Settings(sync_interval=7200), None)
    stored, sealed = _repo_row(db, repo)
    assert "pr0xy-pw" not in stored + str(sealed) and HIDDEN in stored
    assert db.run_read(mirrors.require, repo.id).outbound_config(BOX) == CONFIG


def test_seal_stored_seals_every_row_from_before_unless_a_write_came_first(
    db: Database, repo: RepositoryRecord
) -> None:
    org = _org(db, "mirrored")
    db.run_write(org_mirrors.create, BOX, org, _org_settings(org), None)
    _create(db, repo, {"verify_tls": False, "proxy": {"http_proxy": "http://u:http-pw@proxy:3128"}})
    assert db.run_read(proxy_passwords.in_clear_stored) == []
    assert db.run_read(proxy_passwords.opens_with, BOX) is True
    assert db.run_read(proxy_passwords.opens_with, SecretBox("another key")) is False

    # both kinds of rows from before; the repository's keeps a sealed field next to a clear one
    sealed_http = json.loads(str(_repo_row(db, repo)[1]))
    mixed = {"proxy": {"http_proxy": "http://u:********@proxy:3128", "https_proxy": CLEAR}}
    db.run_write(_write_as_before("repo_mirror_configs", "repository_id", repo.id, mixed))
    db.run_write(
        lambda c: c.execute(
            text("UPDATE repo_mirror_configs SET proxy_passwords_sealed = :s"), {"s": json.dumps(sealed_http)}
        )
    )
    db.run_write(_write_as_before("org_mirror_configs", "org_id", org.id, CONFIG))
    found = db.run_read(proxy_passwords.in_clear_stored)
    assert [(f.kind, f.name, f.fields) for f in found] == [
        ("repository mirror", "admin/mirrored", ["https_proxy"]),
        ("organization mirror", "mirrored", ["https_proxy"]),
    ]
    assert [db.run_write(proxy_passwords.seal_stored, BOX, f) for f in found] == [True, True]
    assert db.run_read(proxy_passwords.in_clear_stored) == []
    record = db.run_read(mirrors.require, repo.id)
    assert record.outbound_config(BOX)["proxy"] == {
        "http_proxy": "http://u:http-pw@proxy:3128",
        "https_proxy": CLEAR,
    }
    assert db.run_read(org_mirrors.require, org.id).outbound_config(BOX) == CONFIG
    assert "pr0xy-pw" not in str(_repo_row(db, repo))

    # a row written between the listing and the sealing is left to that write
    db.run_write(_write_as_before("org_mirror_configs", "org_id", org.id, CONFIG))
    late = db.run_read(proxy_passwords.in_clear_stored)
    db.run_write(org_mirrors.change, BOX, org, org_mirrors.Settings(sync_interval=7200), None)
    assert [db.run_write(proxy_passwords.seal_stored, BOX, f) for f in late] == [False]
    assert db.run_read(org_mirrors.require, org.id).outbound_config(BOX) == CONFIG
