"""The entity search's prefix match (core/entities.py) on the real database: `_` and `%` literal,
robots only of the namespace asked for, disabled users left out, membership of the organization,
and the names read from an index rather than by scanning every account."""

from __future__ import annotations

from tests.core.query_plans import plan
from wharf.core import accounts, entities, orgs, robots, teams
from wharf.core.accounts import AccountRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db

BOX = SecretBox("test")


def _fill(db: Database) -> AccountRecord:
    def fill(c: Db) -> AccountRecord:
        admin = accounts.get_by_name(c, "admin")
        assert admin is not None
        org = orgs.create(c, "acme", None, admin, None)
        devs = teams.upsert(c, org, "devs", "member", "", None)
        teams.upsert(c, org, "dev_ops", "member", "", None)
        for name in ("dev_1", "devx1", "devon", "dora"):
            accounts.create_user(c, name, "pw-long-enough", None)
        member = accounts.get_by_name(c, "devon")
        assert member is not None
        teams.add_member(c, org, devs, member, None)
        gone = accounts.create_user(c, "devgone", "pw-long-enough", None)
        accounts.update_user(c, gone, enabled=False)
        robots.create(c, BOX, org, "deployer", description="", actor=None)
        other = orgs.create(c, "other", None, admin, None)
        robots.create(c, BOX, other, "deployer", description="", actor=None)
        return org

    return db.run_write(fill)


def test_prefixes_robots_membership(db: Database) -> None:
    org = _fill(db)

    def names(prefix: str, ns: str | None = None, org_id: int | None = None) -> list[tuple[str, bool | None]]:
        found = db.run_read(entities.matching_accounts, prefix, robot_namespace=ns, org_id=org_id)
        return [(e.name, e.is_org_member) for e in found]

    assert names("dev") == [("dev_1", None), ("devon", None), ("devx1", None)]  # not devgone
    assert names("dev_") == [("dev_1", None)]  # `_` is not a wildcard
    assert names("de", "acme", org.id) == [
        ("acme+deployer", False),
        ("dev_1", False),
        ("devon", True),
        ("devx1", False),
    ]
    assert names("acme+d", "acme") == [("acme+deployer", None)]
    assert names("other+", "acme") == []
    assert db.run_read(entities.matching_teams, org.id, "dev_") == ["dev_ops"]
    assert db.run_read(entities.matching_teams, org.id, "dev") == ["dev_ops", "devs"]
    assert entities.normalize("De V") == "dev" and entities.normalize("a%") is None


def test_the_prefix_is_read_from_an_index(db: Database) -> None:
    _fill(db)

    def explain(c: Db) -> str:
        return plan(c, entities.accounts_query(c, "dev", robot_namespace="acme", org_id=None))

    found = db.run_write(explain)
    assert "SCAN accounts" not in found and "Seq Scan" not in found, found
