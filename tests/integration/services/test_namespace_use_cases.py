"""The services behind an organization's robots, teams and superuser actions, called directly on a
real database: the robot policy, a role set on many repositories all or none, who sees which teams,
and a superuser taking ownership. The surfaces' wording of the same refusals is tested beside
each surface (tests/integration/api, tests/integration/web)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import TEST_HOSTNAME
from wharf.app import WharfApp
from wharf.core import accounts, audit, grants, orgs, teams
from wharf.core.accounts import AccountRecord
from wharf.core.errors import NotFound
from wharf.runtime import Runtime
from wharf.services import repositories as repository_service
from wharf.services import robots as robot_service
from wharf.services import superuser as superuser_service
from wharf.services import teams as team_service

BY = audit.Actor(None, "admin", "127.0.0.1", origin=f"http://{TEST_HOSTNAME}")


async def _admin(rt: Runtime) -> AccountRecord:
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    return admin


async def _org(rt: Runtime, name: str = "acme") -> AccountRecord:
    await rt.db.write(orgs.create, name, None, await _admin(rt), BY)
    org = await rt.db.read(orgs.get, name)
    assert org is not None
    return org


async def test_a_robot_is_made_only_where_the_robot_policy_allows_it(wharf: WharfApp) -> None:
    rt = wharf.rt
    org = await _org(rt)
    strict = replace(
        rt,
        settings=rt.settings.model_copy(
            update={"ROBOTS_DISALLOW": True, "ROBOTS_WHITELIST": ["acme+allowed"]}
        ),
    )
    with pytest.raises(robot_service.RobotsDisallowed, match=r"acme\+other"):
        await robot_service.create(strict, org, "other", description="", by=BY)
    assert await rt.db.read(accounts.get_by_name, "acme+other") is None
    made = await robot_service.create(strict, org, "allowed", description="CI", metadata={"k": "v"}, by=BY)
    assert (made.account.name, made.description, made.metadata) == ("acme+allowed", "CI", {"k": "v"})


async def test_roles_on_many_repositories_are_set_all_or_none(wharf: WharfApp) -> None:
    rt = wharf.rt
    org = await _org(rt)
    for name in ("one", "two"):
        await repository_service.create(
            rt, "acme", name, visibility="private", description=None, creator_id=None, by=BY
        )
    robot = await robot_service.create(rt, org, "deployer", description="", by=BY)

    async def held() -> dict[str, str]:
        return {n: role for n, _, role in await rt.db.read(grants.held_by_account, robot.account.id)}

    with pytest.raises(NotFound, match="acme/missing"):
        await robot_service.set_roles(rt, org, robot, ["one", "missing"], "write", BY)
    assert await held() == {}
    assert await robot_service.set_roles(rt, org, robot, ["one", "two"], "write", BY) == 2
    assert await held() == {"acme/one": "write", "acme/two": "write"}
    # Taking the role away counts only the repositories where the robot had one.
    await robot_service.set_roles(rt, org, robot, ["two"], robot_service.NO_ROLE, BY)
    assert await robot_service.set_roles(rt, org, robot, ["one", "two"], robot_service.NO_ROLE, BY) == 1
    assert await held() == {}

    await robot_service.set_roles(rt, org, robot, ["two"], "read", BY)
    found = await robot_service.detail(rt, org, robot, repository_limit=10)
    assert found.held == {"acme/two": "read"}
    assert [r.full_name for r in found.repositories] == ["acme/one", "acme/two"]
    assert (found.federation, found.teams) == ([], [])


async def test_members_see_their_teams_and_administrators_see_all_with_the_membership(
    wharf: WharfApp,
) -> None:
    rt = wharf.rt
    org = await _org(rt)
    alice = await rt.db.write(accounts.create_user, "alice", None, None)
    builders = await rt.db.write(teams.upsert, org, "builders", "member", "", BY)
    await rt.db.write(teams.upsert, org, "readers", "member", "", BY)
    await rt.db.write(teams.add_member, org, builders, alice, BY)

    seen = await team_service.overview(rt, org, alice.id, admin=False)
    assert [(t.team.name, t.members) for t in seen.teams] == [("builders", 1)]
    assert seen.membership is None
    assert (await team_service.overview(rt, org, None, admin=False)).teams == []

    everything = await team_service.overview(rt, org, None, admin=True)
    assert sorted(t.team.name for t in everything.teams) == ["builders", orgs.OWNERS, "readers"]
    assert everything.membership is not None
    assert sorted(a.name for a, _ in everything.membership.members) == ["admin", "alice"]
    assert everything.membership.last_owner == "admin"

    plain = await team_service.detail(rt, org, builders, admin=False, repository_limit=10)
    assert (plain.members, plain.repositories, plain.org_robots) == ([("alice", "user")], None, None)
    await robot_service.create(rt, org, "bot", description="", by=BY)
    full = await team_service.detail(rt, org, builders, admin=True, repository_limit=10)
    assert (full.repositories, full.org_robots) == ([], ["acme+bot"])


async def test_a_superuser_takes_ownership_of_a_user_namespace(wharf: WharfApp) -> None:
    rt = wharf.rt
    admin = await _admin(rt)
    bob = await rt.db.write(accounts.create_user, "bob", None, None)
    await superuser_service.take_ownership(rt, bob, admin.id, BY)
    became = await rt.db.read(orgs.get, "bob")
    assert became is not None and became.kind == "org"
    owners = await rt.db.read(teams.get, became.id, orgs.OWNERS)
    assert owners is not None
    assert await rt.db.read(teams.member_names, owners) == [("admin", "user")]
    with pytest.raises(NotFound):
        await superuser_service.take_ownership(rt, became, 10**9, BY)
