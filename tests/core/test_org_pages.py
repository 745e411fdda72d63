"""The Teams and Robot accounts tabs' pages (core/org_pages.py) on the real database: members,
teams and robots by name, filtered by any part of the name with `%` and `_` literal, the totals,
pages past the end, and what a member who is not an administrator sees."""

from __future__ import annotations

from wharf.core import accounts, grants, org_pages, orgs, repositories, robots, teams
from wharf.core.accounts import AccountRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db

BOX = SecretBox("test")


def _org(db: Database) -> AccountRecord:
    """`acme` (owner: admin) with teams t-00..t-11 (t-01 holds a role on acme/app), users u-00..u-24
    (u-0x in t-00 and t-01, the others in t-02) and robots acme+bot_00..bot_12 (bot_00 in t-00,
    with a role on acme/app). The users have no password: nothing here signs in, and argon2
    hashing 25 of them took most of each test's time."""

    def fill(c: Db) -> AccountRecord:
        admin = accounts.get_by_name(c, "admin")
        assert admin is not None
        org = orgs.create(c, "acme", None, admin, None)
        made = [teams.upsert(c, org, f"t-{i:02d}", "member", f"team {i}", None) for i in range(12)]
        repo = repositories.create(c, "acme", "app", visibility="private", actor=None)
        grants.set_team_role(c, repo, made[1], "read", None)
        for i in range(25):
            user = accounts.create_user(c, f"u-{i:02d}", None, None)
            for team in made[:2] if i < 10 else made[2:3]:
                teams.add_member(c, org, team, user, None)
        for i in range(13):
            robot = robots.create(c, BOX, org, f"bot_{i:02d}", description=f"robot {i}", actor=None)
            if i == 0:
                teams.add_member(c, org, made[0], robot.account, None)
                grants.set_user_role(c, repo, robot.account, "write", None)
        return org

    return db.run_write(fill)


def test_members_by_name_with_their_teams_filter_and_pages(db: Database) -> None:
    org = _org(db)
    found = db.run_read(org_pages.members, org.id, per_page=10)
    # admin (owners), acme+bot_00 (t-00), u-00..u-24: 27 accounts
    assert found.total == 27 and found.pages == 3
    assert [m.account.name for m in found.rows][:3] == ["acme+bot_00", "admin", "u-00"]
    by_name = {m.account.name: m.teams for m in found.rows}
    assert by_name["u-00"] == ["t-00", "t-01"] and by_name["admin"] == ["owners"]
    last = db.run_read(org_pages.members, org.id, page=9, per_page=10)
    assert last.page == 3 and [m.account.name for m in last.rows] == [f"u-{i:02d}" for i in range(18, 25)]
    assert last.rows[-1].teams == ["t-02"]
    assert db.run_read(org_pages.members, org.id, contains="U-1").total == 10  # any case
    assert db.run_read(org_pages.members, org.id, contains="_").total == 1  # `_` literal: acme+bot_00
    assert db.run_read(org_pages.members, org.id, contains="%").total == 0


def test_teams_with_counts_all_for_admins_only_theirs_for_members(db: Database) -> None:
    org = _org(db)
    every = db.run_read(org_pages.teams_of, org.id, per_page=10)
    assert every.total == 13 and [r.team.name for r in every.rows][:2] == ["owners", "t-00"]
    t00, t01 = every.rows[1], every.rows[2]
    assert (t00.members, t00.repositories) == (11, 0) and (t01.members, t01.repositories) == (10, 1)
    u5 = accounts_id(db, "u-05")
    mine = db.run_read(org_pages.teams_of, org.id, member_id=u5, only_member=True)
    assert [r.team.name for r in mine.rows] == ["t-00", "t-01"] and mine.total == 2
    assert db.run_read(org_pages.teams_of, org.id, member_id=None, only_member=True).total == 0
    assert [r.team.name for r in db.run_read(org_pages.teams_of, org.id, contains="-1").rows] == [
        "t-10",
        "t-11",
    ]


def test_robots_by_short_name_with_roles_and_teams(db: Database) -> None:
    org = _org(db)
    found = db.run_read(org_pages.robots_of, org, per_page=10)
    assert found.total == 13 and found.pages == 2
    first = found.rows[0]
    assert first.robot.account.name == "acme+bot_00" and first.repositories == 1 and first.teams == ["t-00"]
    assert found.rows[1].repositories == 0 and found.rows[1].teams == []
    # the filter reads the short name: `acme` is in every full name, in no short one
    assert db.run_read(org_pages.robots_of, org, contains="acme").total == 0
    assert [r.robot.shortname for r in db.run_read(org_pages.robots_of, org, contains="t_1").rows] == [
        "bot_10",
        "bot_11",
        "bot_12",
    ]
    # a user's robots are its own
    admin = db.run_read(accounts.get_by_name, "admin")
    assert admin is not None
    assert db.run_read(org_pages.robots_of, admin).total == 0


def accounts_id(db: Database, name: str) -> int:
    found = db.run_read(accounts.get_by_name, name)
    assert found is not None
    return found.id
