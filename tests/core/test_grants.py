"""Roles on repositories (core/grants.py) on the real database: direct and through teams, the
audit entry each change writes in its transaction, and the registry tokens a change ends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wharf.core import accounts, grants, orgs, repositories, teams
from wharf.core.accounts import AccountRecord
from wharf.core.audit import Actor
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database

OWNER = Actor(None, "owner")


@pytest.fixture
def people(db: Database) -> dict[str, AccountRecord]:
    return {name: db.run_write(accounts.create_user, name, None, None) for name in ("owner", "dev", "ops")}


@pytest.fixture
def org(db: Database, people: dict[str, AccountRecord]) -> AccountRecord:
    return db.run_write(orgs.create, "acme", None, people["owner"], OWNER)


@pytest.fixture
def repo(db: Database, org: AccountRecord) -> RepositoryRecord:
    return db.run_write(repositories.create, "acme", "app", visibility="private", actor=OWNER)


def _generation(db: Database, account: AccountRecord) -> int:
    found = db.run_read(accounts.get_by_id, account.id)
    assert found is not None
    return found.credential_gen


def test_a_direct_role_is_set_changed_and_deleted_with_its_audit_entries(
    db: Database,
    people: dict[str, AccountRecord],
    repo: RepositoryRecord,
    audit_kinds: Callable[[], list[str]],
) -> None:
    dev = people["dev"]
    before = audit_kinds()
    db.run_write(grants.set_user_role, repo, dev, "read", OWNER)
    assert db.run_read(grants.repository_roles, repo.id, dev.id) == {"read"}
    generation = _generation(db, dev)
    db.run_write(grants.set_user_role, repo, dev, "read", OWNER)  # the same role: tokens stay
    assert _generation(db, dev) == generation
    db.run_write(grants.set_user_role, repo, dev, "admin", OWNER)  # a change ends its tokens
    assert _generation(db, dev) > generation
    assert [(a.name, role) for a, role in db.run_read(grants.user_roles, repo)] == [("dev", "admin")]
    db.run_write(grants.delete_user_role, repo, dev, OWNER)
    assert db.run_read(grants.repository_roles, repo.id, dev.id) == set()
    with pytest.raises(NotFound):
        db.run_write(grants.delete_user_role, repo, dev, OWNER)
    assert audit_kinds()[len(before) :] == [
        "create_repo_permission",
        "change_repo_permission",
        "change_repo_permission",
        "delete_repo_permission",
    ]


def test_team_roles_reach_the_members_and_a_change_ends_their_tokens(
    db: Database, people: dict[str, AccountRecord], org: AccountRecord, repo: RepositoryRecord
) -> None:
    dev, ops = people["dev"], people["ops"]
    team = db.run_write(teams.upsert, org, "builders", "member", None, OWNER)
    db.run_write(teams.add_member, org, team, dev, OWNER)
    db.run_write(grants.set_team_role, repo, team, "write", OWNER)
    db.run_write(grants.set_user_role, repo, dev, "read", OWNER)
    assert db.run_read(grants.repository_roles, repo.id, dev.id) == {"read", "write"}
    assert grants.strongest(db.run_read(grants.repository_roles, repo.id, dev.id)) == "write"
    assert db.run_read(grants.repository_roles, repo.id, ops.id) == set()
    assert db.run_read(grants.team_roles, repo) == [("builders", "write")]
    generation = _generation(db, dev)
    db.run_write(grants.delete_team_role, repo, team, OWNER)
    assert _generation(db, dev) > generation
    assert db.run_read(grants.repository_roles, repo.id, dev.id) == {"read"}
    assert db.run_read(grants.held_by_account, dev.id) == [("acme/app", False, "read")]


def test_roles_that_cannot_be_granted_are_refused(
    db: Database, people: dict[str, AccountRecord], org: AccountRecord, repo: RepositoryRecord
) -> None:
    with pytest.raises(InvalidInput):
        db.run_write(grants.set_user_role, repo, people["dev"], "owner", OWNER)  # not a role
    with pytest.raises(InvalidInput):  # an organization holds roles through its teams only
        db.run_write(grants.set_user_role, repo, org, "read", OWNER)
    other = db.run_write(orgs.create, "other", None, people["ops"], OWNER)
    foreign_team = db.run_write(teams.upsert, other, "crew", "member", None, OWNER)
    with pytest.raises(InvalidInput):  # only the repository's own organization's teams
        db.run_write(grants.set_team_role, repo, foreign_team, "read", OWNER)
    assert db.run_read(grants.user_roles, repo) == []
    assert grants.strongest(set()) is None
