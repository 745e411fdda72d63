"""A shared little world for access tests: an organization `acme` with teams, users in every role,
a private and a public repository, and an OAuth token (all scopes) per user."""

from __future__ import annotations

from dataclasses import dataclass

from tests.integration.registry_client import RegistryClient
from wharf.core import accounts, repositories, scopes, teams, tokens
from wharf.db.engine import Db

PW = "matrix-password"
USERS = ["owner", "reader", "writer", "maker", "direct", "outsider", "disabled"]


@dataclass
class World:
    reg: RegistryClient
    api: dict[str, dict[str, str]]


async def api_token(reg: RegistryClient, user: str, granted: frozenset[str] = scopes.ALL) -> dict[str, str]:
    account = await reg.wharf.rt.db.read(accounts.get_by_name, user)
    assert account is not None
    return {
        "Authorization": f"Bearer {await reg.wharf.rt.db.write(tokens.mint, account, scopes.expand(granted))}"
    }


async def accept_invitations(reg: RegistryClient, user: str, headers: dict[str, str]) -> None:
    """Accept every team invitation in `user`'s inbox, with the code its notification carries."""
    r = await reg.http.get("/api/v1/user/notifications", headers=headers)
    assert r.status_code == 200, r.text
    for item in r.json()["notifications"]:
        if item["kind"] == "org_team_invite":
            accepted = await reg.http.put(f"/api/v1/teaminvite/{item['metadata']['code']}", headers=headers)
            assert accepted.status_code == 200, accepted.text


async def build_world(reg: RegistryClient) -> World:
    for user in USERS:
        await reg.create_user(user, PW)
    api = {user: await api_token(reg, user) for user in USERS}
    api["admin"] = await api_token(reg, "admin")
    http = reg.http
    assert (
        await http.post("/api/v1/organization/", json={"name": "acme"}, headers=api["owner"])
    ).status_code == 201
    for team, role in (("readers", "member"), ("writers", "member"), ("makers", "creator")):
        r = await http.put(
            f"/api/v1/organization/acme/team/{team}", json={"role": role}, headers=api["owner"]
        )
        assert r.status_code == 200, r.text

    # Members are put in their teams directly: with FEATURE_REQUIRE_TEAM_INVITE (Quay's default)
    # the API would invite them, and accepting costs every test that uses the world several
    # requests. Adding and inviting are tested in test_org_admin.py and test_team_invites.py.
    def join(db: Db) -> None:
        org = accounts.get_by_name(db, "acme")
        assert org is not None
        for team_name, member_name in (
            ("readers", "reader"),
            ("writers", "writer"),
            ("makers", "maker"),
            ("readers", "disabled"),
        ):
            team, member = teams.get(db, org.id, team_name), accounts.get_by_name(db, member_name)
            assert team is not None and member is not None
            teams.add_member(db, org, team, member, None)

    await reg.wharf.rt.db.write(join)
    # the owner pushes two repositories; one becomes public
    for repo in ("acme/app", "acme/pub"):
        await reg.push_blob(repo, b"layer", user="owner", password=PW)
    pub = await reg.wharf.rt.db.read(repositories.get, "acme", "pub")
    assert pub is not None
    await reg.wharf.rt.db.write(repositories.set_visibility, pub, "public", None)
    for repo in ("acme/app", "acme/pub"):
        for team, role in (("readers", "read"), ("writers", "write")):
            r = await http.put(
                f"/api/v1/repository/{repo}/permissions/team/{team}",
                json={"role": role},
                headers=api["owner"],
            )
            assert r.status_code == 200, r.text
        r = await http.put(
            f"/api/v1/repository/{repo}/permissions/user/direct", json={"role": "admin"}, headers=api["owner"]
        )
        assert r.status_code == 200, r.text
    r = await http.put("/api/v1/superuser/users/disabled", json={"enabled": False}, headers=api["admin"])
    assert r.status_code == 200
    return World(reg, api)
