"""Organization-mirror configuration, the repositories a discovery creates, and the sync states,
on a real database."""

from __future__ import annotations

import pytest

from wharf.core import accounts, mirrors, org_mirror_repos, org_mirrors, orgs, repositories, robots
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database

BOX = SecretBox("test-key")


def _org(db: Database, name: str) -> AccountRecord:
    owner = db.run_write(accounts.create_user, f"{name}-owner", "owner-password", f"{name}@example.com")
    org = db.run_write(orgs.create, name, None, owner, None)
    db.run_write(robots.create, BOX, org, "mirror", actor=None)
    return org


def _settings(org: AccountRecord, **extra: object) -> org_mirrors.Settings:
    values: dict[str, object] = {
        "external_registry_type": "harbor",
        "external_registry_url": "https://harbor.example.com/",
        "external_namespace": "proj",
        "robot_username": f"{org.name}+mirror",
        "visibility": "private",
        "sync_interval": 3600,
        "sync_start_ms": 0,
        "username": "reader",
        "password": "secret",
        "repository_filters": ["!test-*"],
        **extra,
    }
    return org_mirrors.Settings(**values)  # type: ignore[arg-type]


def test_one_configuration_per_organization_with_its_own_robot(db: Database) -> None:
    org, other = _org(db, "mirrored"), _org(db, "elsewhere")
    with pytest.raises(InvalidInput):
        db.run_write(org_mirrors.create, BOX, org, _settings(org, robot_username="elsewhere+mirror"), None)
    record = db.run_write(org_mirrors.create, BOX, org, _settings(org), None)
    assert record.external_registry_url == "https://harbor.example.com"
    assert record.credentials(BOX) == ("reader", "secret") and record.password_sealed != "secret"
    assert record.sync_status == org_mirrors.NEVER_RUN
    with pytest.raises(AlreadyExists):
        db.run_write(org_mirrors.create, BOX, org, _settings(org), None)
    assert db.run_read(org_mirrors.get, other.id) is None


def test_a_discovered_repository_becomes_an_org_mirror_repository(db: Database) -> None:
    org = _org(db, "mirrored")
    config = db.run_write(org_mirrors.create, BOX, org, _settings(org), None)
    repo = db.run_write(org_mirror_repos.adopt, BOX, org, config, "web")
    assert repo is not None and repo.state == repositories.ORG_MIRROR and repo.visibility == "private"
    mirror = db.run_read(mirrors.require, repo.id)
    assert mirror.external_reference == "harbor.example.com/proj/web"
    assert mirror.robot_username == "mirrored+mirror" and mirror.globs == ["*"]
    assert mirror.credentials(BOX) == ("reader", "secret")
    # the repository mirror machinery sees it as any mirror
    assert repo.id in db.run_read(mirrors.due, now_ms())
    assert db.run_write(mirrors.begin, repo.id) is not None

    again = db.run_write(org_mirror_repos.adopt, BOX, org, config, "web")
    assert again is not None and again.id == repo.id
    # a repository the mirror did not create is not taken over
    db.run_write(repositories.create, "mirrored", "own", visibility="public", actor=None)
    assert db.run_write(org_mirror_repos.adopt, BOX, org, config, "own") is None
    db.run_write(org_mirror_repos.skip, BOX, config, "test-web")
    listed, total = db.run_read(org_mirror_repos.list_repositories, org.id, status=None, offset=0, limit=10)
    assert total == 3
    assert [(d.name, d.status) for d in listed] == [
        ("own", "FAILED"),
        ("test-web", "SKIP"),
        ("web", "CREATED"),
    ]
    assert db.run_read(org_mirror_repos.status_counts, org.id) == {"CREATED": 1, "FAILED": 1, "SKIP": 1}

    # the upstream no longer lists "web": set aside (its mirror disabled), until it comes back
    assert db.run_write(org_mirror_repos.set_aside_vanished, BOX, config, {"own", "test-web"}) == ["web"]
    assert not db.run_read(mirrors.require, repo.id).is_enabled
    listed, _ = db.run_read(org_mirror_repos.list_repositories, org.id, status="SKIP", offset=0, limit=10)
    assert [(d.name, d.status_message, d.repository_id) for d in listed] == [
        ("test-web", org_mirror_repos.FILTERED, None),
        ("web", org_mirror_repos.VANISHED, repo.id),
    ]
    assert db.run_write(org_mirror_repos.set_aside_vanished, BOX, config, {"own"}) == []  # once
    assert db.run_write(org_mirror_repos.adopt, BOX, org, config, "web") is not None
    assert db.run_read(mirrors.require, repo.id).is_enabled

    kept = db.run_write(org_mirrors.delete_config, org, None)
    assert [r.name for r in kept] == ["web"]
    back = db.run_read(repositories.get, "mirrored", "web")
    assert back is not None and back.state == repositories.NORMAL
    assert db.run_read(org_mirrors.get, org.id) is None
    assert db.run_read(org_mirror_repos.list_repositories, org.id, status=None, offset=0, limit=10)[1] == 0


def test_the_sync_states(db: Database) -> None:
    org = _org(db, "mirrored")
    db.run_write(org_mirrors.create, BOX, org, _settings(org), None)
    assert db.run_read(org_mirrors.due, now_ms()) == [org.id]
    running = db.run_write(org_mirrors.begin, org.id, 60)
    assert running is not None and running.sync_status == org_mirrors.SYNCING
    assert db.run_read(org_mirrors.due, now_ms()) == []
    # a worker that died leaves it SYNCING: due again once the discovery's time is up
    assert db.run_read(org_mirrors.due, now_ms() + 61_000) == [org.id]
    assert db.run_write(org_mirrors.sync_now, org, None) is False  # running already
    assert db.run_read(org_mirrors.is_running, org.id)

    failed = db.run_write(org_mirrors.finish, org.id, org_mirrors.SYNC_FAILED, "down")
    assert failed is not None and failed.sync_retries_remaining == mirrors.MAX_RETRIES - 1
    assert db.run_read(org_mirrors.due, now_ms()) == [org.id]  # a failure is retried at once

    db.run_write(org_mirrors.begin, org.id, 60)
    assert db.run_write(org_mirrors.cancel, org, None) is True
    assert not db.run_read(org_mirrors.is_running, org.id)
    ended = db.run_write(org_mirrors.finish, org.id, org_mirrors.SYNC_SUCCESS, None)
    assert ended is not None and ended.sync_status == org_mirrors.CANCEL
    assert db.run_write(org_mirrors.cancel, org, None) is False
    assert db.run_write(org_mirrors.sync_now, org, None) is True

    changed = db.run_write(
        org_mirrors.change, BOX, org, org_mirrors.Settings(is_enabled=False, password=""), None
    )
    assert changed.password_sealed is None and not changed.is_enabled
    assert db.run_write(org_mirrors.begin, org.id, 60) is None
    with pytest.raises(InvalidInput):
        db.run_write(org_mirrors.change, BOX, org, org_mirrors.Settings(external_registry_type="quay"), None)


def test_a_new_configuration_takes_back_only_what_an_organization_mirror_made(db: Database) -> None:
    org = _org(db, "mirrored")
    config = db.run_write(org_mirrors.create, BOX, org, _settings(org), None)
    made = db.run_write(org_mirror_repos.adopt, BOX, org, config, "web")
    mine = db.run_write(org_mirror_repos.adopt, BOX, org, config, "mine")
    assert made is not None and mine is not None and db.run_read(mirrors.require, made.id).org_mirror
    db.run_write(org_mirrors.delete_config, org, None)
    # a user reconfigured one mirror since: it is theirs now
    db.run_write(mirrors.change, BOX, mine, mirrors.Settings(sync_interval=60, org_mirror=False), None)

    moved = _settings(org, external_registry_url="https://other.example.com", password="")
    config = db.run_write(org_mirrors.create, BOX, org, moved, None)
    taken = db.run_write(org_mirror_repos.adopt, BOX, org, config, "web")
    assert taken is not None and taken.id == made.id and taken.state == repositories.ORG_MIRROR
    mirror = db.run_read(mirrors.require, made.id)
    assert mirror.external_reference == "other.example.com/proj/web" and mirror.org_mirror
    assert mirror.credentials(BOX) == ("reader", None)
    assert db.run_write(org_mirror_repos.adopt, BOX, org, config, "mine") is None
    left = db.run_read(repositories.get, "mirrored", "mine")
    assert left is not None and left.state == repositories.NORMAL
