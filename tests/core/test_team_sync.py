"""Teams bound to directory groups (core/team_sync.py) on the real database: what a
synchronization adds and removes, what it leaves alone (robots, local accounts), the accounts it
makes, tokens ended on removal, staleness, errors, and the refusal of hand edits."""

from __future__ import annotations

import pytest

from wharf.core import accounts, federated_logins, orgs, revocation, robots, team_sync, teams
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db

LDAP = federated_logins.LDAP


def _setup(db: Database) -> tuple[AccountRecord, teams.TeamRecord]:
    """`acme` with team `devs` holding a local user, a robot and directory user `old`, bound to
    cn=devs."""

    def fill(c: Db) -> tuple[AccountRecord, teams.TeamRecord]:
        admin = accounts.get_by_name(c, "admin")
        assert admin is not None
        org = orgs.create(c, "acme", None, admin, None)
        team = teams.upsert(c, org, "devs", "member", None, None)
        local = accounts.create_user(c, "local", "pw-long-enough", None)
        robot = robots.create(c, SecretBox("test"), org, "ci", description="", actor=None)
        old = federated_logins.link(c, LDAP, "old", None)
        for member in (local, robot.account, old):
            teams.add_member(c, org, team, member, None)
        team_sync.enable(c, org, team, LDAP, {"group_dn": "cn=devs"}, None)
        return org, team

    return db.run_write(fill)


def _names(db: Database, team: teams.TeamRecord) -> list[str]:
    return [n for n, _ in db.run_read(teams.member_names, team)]


def test_a_sync_makes_the_linked_users_the_group(db: Database) -> None:
    _, team = _setup(db)
    old = db.run_read(accounts.get_by_name, "old")
    assert old is not None
    outcome = db.run_write(team_sync.apply, team.id, LDAP, [("Jane.Doe", "jane@example.org")])
    assert outcome is not None
    # jane had no account: one was made and linked, under a valid name
    assert outcome.added == ["jane.doe"] and outcome.removed == ["old"]
    assert _names(db, team) == ["acme+ci", "jane.doe", "local"]
    jane = db.run_read(federated_logins.account_for, LDAP, "Jane.Doe")
    assert jane is not None and jane.email == "jane@example.org" and not jane.is_superuser
    # old's tokens end with the removal
    assert db.run_read(revocation.generation, old.id) == old.credential_gen + 1
    sync = db.run_read(team_sync.get, team.id)
    assert sync is not None and sync.last_updated_ms is not None and sync.last_error is None
    # the same group again changes nothing
    again = db.run_write(team_sync.apply, team.id, LDAP, [("Jane.Doe", "jane@example.org")])
    assert again is not None and again.added == [] and again.removed == []


def test_stale_teams_and_errors(db: Database) -> None:
    _, team = _setup(db)
    assert [s.team_id for s in db.run_read(team_sync.stale, 0, 10)] == [team.id]  # never synced
    db.run_write(team_sync.apply, team.id, LDAP, [])
    sync = db.run_read(team_sync.get, team.id)
    assert sync is not None and sync.last_updated_ms is not None
    assert db.run_read(team_sync.stale, sync.last_updated_ms - 1, 10) == []
    assert len(db.run_read(team_sync.stale, sync.last_updated_ms, 10)) == 1
    db.run_write(team_sync.record_error, team.id, "the directory has no group 'cn=devs'")
    sync = db.run_read(team_sync.get, team.id)
    assert sync is not None and sync.last_error == "the directory has no group 'cn=devs'"


def test_hand_edits_of_a_synced_teams_users_are_refused(db: Database) -> None:
    org, team = _setup(db)
    local = db.run_read(accounts.get_by_name, "local")
    robot = db.run_read(accounts.get_by_name, "acme+ci")
    assert local is not None and robot is not None
    with pytest.raises(InvalidInput, match="synchronized"):
        db.run_write(teams.remove_member, org, team, local, None)
    db.run_write(teams.remove_member, org, team, robot, None)  # robots stay the admins'
    with pytest.raises(InvalidInput, match="already synchronized"):
        db.run_write(team_sync.enable, org, team, LDAP, {"group_dn": "cn=other"}, None)
    db.run_write(team_sync.disable, org, team, None)
    db.run_write(teams.remove_member, org, team, local, None)
    owners = db.run_read(teams.get, org.id, "owners")
    assert owners is not None
    with pytest.raises(InvalidInput, match="owners"):
        db.run_write(team_sync.enable, org, owners, LDAP, {"group_dn": "cn=devs"}, None)
