"""Who may do what, as one table: every kind of identity x repository x action, through /v2 and
/api/v1 as clients use them. One permission resolver (wharf.auth.permissions) decides all of it.

Identities: anonymous, superuser, a global read-only superuser, organization admin, team members
by role (read team, write team, creator team), a direct grant, an outsider, a disabled user, a
robot, an app token, OAuth tokens per scope, a federated (keyless) robot, and a browser session.
Each row says what /v2/auth grants the identity on the private acme/app, the public acme/pub and
the not-yet-existing acme/new; what it can really do on the first two (pull, list, push, delete);
and how /api/v1 answers its administrative calls. The scenarios after the table (creation by
push, revocation, scopes capping roles, the catalog, organization views) use the same world.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import ADMIN_PASSWORD, TEST_HOSTNAME
from tests.integration.registry_client import RegistryClient
from tests.integration.world import PW, World, api_token
from tests.oidc_issuer import Issuer, running_issuer
from wharf.config import Settings, load_settings
from wharf.core import scopes

REPOS = ("acme/app", "acme/pub")  # private, public
PULL, LIST, PUSH, DELETE = "pull", "list", "push", "delete"
EVERYTHING = frozenset({PULL, LIST, PUSH, DELETE})
READ_ONLY = frozenset({PULL, LIST})
NOTHING: frozenset[str] = frozenset()
SUBJECT = "ci-job"

# The actions of a registry token, as /v2/auth grants them for `pull,push,*`.
ALL = ["*", "pull", "push"]
RW = ["pull", "push"]
R = ["pull"]
NONE: list[str] = []

Grants = list[str] | None  # None: the login is refused
Statuses = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Row:
    grants: tuple[Grants, Grants, Grants] | None
    """token actions on acme/app, acme/pub, acme/new; None: no registry login of this kind"""
    can: tuple[frozenset[str], frozenset[str]] | tuple[None, None] | None
    """what it really does on acme/app and acme/pub; (None, None): login refused"""
    api: Statuses | None
    """statuses of: read acme/app's permissions, change them, create an org robot, create a team,
    delete the repository (404 where the caller may not know the repository exists); None: no
    /api/v1 credential of this kind"""


REFUSED = (None, None)

TABLE: dict[str, Row] = {
    "anonymous": Row((NONE, R, NONE), (NOTHING, READ_ONLY), (401, 401, 401, 401, 401)),
    "superuser": Row((ALL, ALL, ALL), (EVERYTHING, EVERYTHING), (200, 200, 201, 200, 204)),
    # reads what an admin reads (pulls everything), pushes, deletes and changes nothing
    "readonly superuser": Row((R, R, NONE), (READ_ONLY, READ_ONLY), (200, 403, 403, 403, 403)),
    # the owners team: admin of the organization
    "org admin": Row((ALL, ALL, ALL), (EVERYTHING, EVERYTHING), (200, 200, 201, 200, 204)),
    "read team": Row((R, R, NONE), (READ_ONLY, READ_ONLY), (403, 403, 403, 403, 403)),
    "write team": Row((RW, RW, NONE), (EVERYTHING, EVERYTHING), (403, 403, 403, 403, 403)),
    # may create repositories, has no role on existing ones
    "creator team": Row((NONE, R, ALL), (NOTHING, READ_ONLY), (404, 404, 403, 403, 404)),
    # a direct admin grant on both repositories
    "direct admin grant": Row((ALL, ALL, NONE), (EVERYTHING, EVERYTHING), (200, 200, 403, 403, 204)),
    "outsider": Row((NONE, R, NONE), (NOTHING, READ_ONLY), (404, 404, 403, 403, 404)),
    "disabled user": Row((None, None, None), REFUSED, (401, 401, 401, 401, 401)),
    # robots and app tokens log in to the registry only (test_robots_and_app_tokens_have_no_api_access)
    "robot": Row((R, R, NONE), (READ_ONLY, READ_ONLY), None),
    "app token": Row((RW, RW, NONE), (EVERYTHING, EVERYTHING), None),  # the write team member's
    "federated robot": Row((R, R, NONE), (READ_ONLY, READ_ONLY), None),
    # the owner's OAuth tokens: the scope caps the owner's admin role
    "oauth repo:read": Row((R, R, NONE), (READ_ONLY, READ_ONLY), (403, 403, 403, 403, 403)),
    "oauth repo:write": Row((RW, RW, NONE), (EVERYTHING, EVERYTHING), (403, 403, 403, 403, 403)),
    "oauth repo:admin": Row((ALL, ALL, NONE), (EVERYTHING, EVERYTHING), (200, 200, 403, 403, 204)),
    "oauth user:read": Row((NONE, R, NONE), (NOTHING, READ_ONLY), (404, 404, 403, 403, 404)),
    "oauth org:admin": Row((NONE, R, NONE), (NOTHING, READ_ONLY), (404, 404, 201, 200, 404)),
    # the owner signed in through the browser
    "session": Row(None, None, (200, 200, 201, 200, 204)),
}
REGISTRY_IDENTITIES = [who for who, row in TABLE.items() if row.grants is not None]
API_IDENTITIES = [who for who, row in TABLE.items() if row.api is not None]


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, storage_config: dict[str, object]) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        **storage_config,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the OIDC issuer of the federated robot
        "GLOBAL_READONLY_SUPER_USERS": ["auditor"],
    }
    return load_settings(None, overrides, environ={})


@dataclass
class Table:
    world: World
    logins: dict[str, tuple[str, str] | None]
    """identity -> registry Basic credentials (None: anonymous)"""
    api: dict[str, dict[str, str]]
    """identity -> /api/v1 headers"""


@pytest.fixture
async def table(world: World, issuer: Issuer) -> Table:
    reg, http, owner = world.reg, world.reg.http, world.api["owner"]
    await reg.create_user("auditor", PW)
    for repo in REPOS:
        await reg.push_image(repo, "v1")
    robot = (await http.put("/api/v1/organization/acme/robots/ci", headers=owner)).json()
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+ci", json={"role": "read"}, headers=owner
    )
    assert r.status_code == 200
    r = await http.post(
        "/api/v1/organization/acme/robots/ci/federation",
        json=[{"issuer": issuer.url, "subject": SUBJECT}],
        headers=owner,
    )
    assert r.status_code == 200
    app_token = (
        await http.post("/api/v1/user/apptoken", json={"title": "t"}, headers=world.api["writer"])
    ).json()
    oauth = {}
    for scope in (scopes.REPO_READ, scopes.REPO_WRITE, scopes.REPO_ADMIN, scopes.USER_READ, scopes.ORG_ADMIN):
        oauth[scope] = await api_token(reg, "owner", frozenset({scope}))
    logins: dict[str, tuple[str, str] | None] = {
        "anonymous": None,
        "superuser": ("admin", ADMIN_PASSWORD),
        "readonly superuser": ("auditor", PW),
        "org admin": ("owner", PW),
        "read team": ("reader", PW),
        "write team": ("writer", PW),
        "creator team": ("maker", PW),
        "direct admin grant": ("direct", PW),
        "outsider": ("outsider", PW),
        "disabled user": ("disabled", PW),
        "robot": ("acme+ci", robot["token"]),
        "app token": ("$app", app_token["token"]["token_code"]),
        "federated robot": ("acme+ci", issuer.token(SUBJECT)),
    }
    for scope, headers in oauth.items():
        logins[f"oauth {scope}"] = ("$oauthtoken", headers["Authorization"].removeprefix("Bearer "))
    api = {
        "anonymous": {},
        "superuser": world.api["admin"],
        "readonly superuser": await api_token(reg, "auditor"),
        "org admin": owner,
        "read team": world.api["reader"],
        "write team": world.api["writer"],
        "creator team": world.api["maker"],
        "direct admin grant": world.api["direct"],
        "outsider": world.api["outsider"],
        "disabled user": world.api["disabled"],
        **{f"oauth {scope}": headers for scope, headers in oauth.items()},
    }
    return Table(world, logins, api)


async def _granted(reg: RegistryClient, auth: tuple[str, str] | None, repo: str) -> Grants:
    """The actions /v2/auth grants on `repo`, or None when the login itself is refused."""
    r = await reg.http.get("/v2/auth", params={"scope": f"repository:{repo}:pull,push,*"}, auth=auth)
    if r.status_code == 401:
        return None
    assert r.status_code == 200, r.text
    access = jwt.decode(r.json()["token"], options={"verify_signature": False})["access"]
    return sorted(access[0]["actions"])


async def _can(reg: RegistryClient, auth: tuple[str, str] | None, repo: str) -> frozenset[str] | None:
    """Try every action for real with the token /v2/auth grants; None when the login is refused."""
    http = reg.http
    r = await http.get("/v2/auth", params={"scope": f"repository:{repo}:pull,push,*"}, auth=auth)
    if r.status_code == 401:
        return None
    assert r.status_code == 200, r.text
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    done = set()
    if (await http.get(f"/v2/{repo}/manifests/v1", headers=h)).status_code == 200:
        done.add(PULL)
    if (await http.get(f"/v2/{repo}/tags/list", headers=h)).status_code == 200:
        done.add(LIST)
    upload = await http.post(f"/v2/{repo}/blobs/uploads/", headers=h)
    if upload.status_code == 202:
        done.add(PUSH)
        await http.delete(upload.headers["Location"], headers=h)
    else:
        assert upload.status_code in (401, 403), upload.text
        assert upload.json()["errors"][0]["code"] in ("DENIED", "UNAUTHORIZED")
    victim, _ = await reg.push_image(repo, None, layers=1)  # as the admin: something to delete
    deleted = await http.delete(f"/v2/{repo}/manifests/{victim}", headers=h)
    if deleted.status_code == 202:
        done.add(DELETE)
    else:
        assert deleted.status_code in (401, 403), deleted.text
    return frozenset(done)


@pytest.mark.parametrize("who", REGISTRY_IDENTITIES)
async def test_registry_table(table: Table, who: str) -> None:
    reg, auth, row = table.world.reg, table.logins[who], TABLE[who]
    # what the token grants
    granted = tuple([await _granted(reg, auth, repo) for repo in (*REPOS, "acme/new")])
    assert granted == row.grants
    # the granted actions work and the others are refused, with the registry's 401
    if granted[0] is not None:
        r = await reg.http.get("/v2/auth", params={"scope": "repository:acme/app:pull,push"}, auth=auth)
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        can_pull, can_push = "pull" in granted[0], "push" in granted[0]
        listing = await reg.http.get("/v2/acme/app/tags/list", headers=h)
        assert listing.status_code == (200 if can_pull else 401)
        upload = await reg.http.post("/v2/acme/app/blobs/uploads/", headers=h)
        assert upload.status_code == (202 if can_push else 401)
        if not can_pull:
            assert listing.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # and what it really does, action by action. A refused login was refused just above, by the
    # request _can would make (asking again only trips the failed-login throttle).
    pairs = zip(REPOS, granted[:2], strict=True)
    can = tuple([await _can(reg, auth, repo) if g is not None else None for repo, g in pairs])
    assert can == row.can


async def _api_statuses(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[Statuses, set[str]]:
    """The statuses of the row's five calls, and the users the permission listing names."""
    listing = await http.get("/api/v1/repository/acme/app/permissions/user/", headers=headers)
    statuses = (
        listing.status_code,
        (
            await http.put(
                "/api/v1/repository/acme/app/permissions/user/outsider",
                json={"role": "read"},
                headers=headers,
            )
        ).status_code,
        (await http.put("/api/v1/organization/acme/robots/made", headers=headers)).status_code,
        (
            await http.put("/api/v1/organization/acme/team/made", json={"role": "member"}, headers=headers)
        ).status_code,
        (await http.delete("/api/v1/repository/acme/app", headers=headers)).status_code,
    )
    return statuses, set(listing.json()["permissions"]) if listing.status_code == 200 else set()


@pytest.mark.parametrize("who", API_IDENTITIES)
async def test_api_table(table: Table, who: str) -> None:
    http = table.world.reg.http
    if who == "session":
        csrf = {"X-CSRF-Token": (await http.get("/csrf_token")).json()["csrf_token"]}
        r = await http.post("/api/v1/signin", json={"username": "owner", "password": PW}, headers=csrf)
        headers = {"X-CSRF-Token": r.headers["X-Next-CSRF-Token"]}
    else:
        headers = table.api[who]
    statuses, listed = await _api_statuses(http, headers)
    assert statuses == TABLE[who].api
    if statuses[0] == 200:  # the users granted a role on acme/app: the direct grant and the robot
        assert listed == {"direct", "acme+ci"}
    # after a successful delete the repository is gone from every surface
    if statuses[4] == 204:
        r = await http.get("/v2/auth", params={"scope": "repository:acme/app:pull"}, auth=("owner", PW))
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        assert (await http.get("/v2/acme/app/tags/list", headers=h)).status_code == 404


async def test_robots_and_app_tokens_have_no_api_access(table: Table) -> None:
    """Robot tokens and app tokens log in to the registry only; /api/v1 takes OAuth tokens and sessions."""
    http = table.world.reg.http
    for who in ("robot", "app token", "federated robot"):
        login = table.logins[who]
        assert login is not None
        r = await http.get("/api/v1/user/", headers={"Authorization": f"Bearer {login[1]}"})
        assert r.status_code == 401, who


# Scenarios on the same world: creation by push, revocation, scopes, catalog, organizations.


async def test_token_scopes_cap_roles(world: World) -> None:
    reg = world.reg
    readonly = await api_token(reg, "owner", frozenset({scopes.REPO_READ}))
    r = await reg.http.get("/api/v1/repository/acme/app/permissions/user/", headers=readonly)
    assert r.status_code == 403
    no_org_admin = await api_token(reg, "owner", frozenset({scopes.REPO_ADMIN}))
    r = await reg.http.put("/api/v1/organization/acme/team/x1", json={"role": "member"}, headers=no_org_admin)
    assert r.status_code == 403
    r = await reg.http.get("/api/v1/repository/acme/app/permissions/user/", headers=no_org_admin)
    assert r.status_code == 200


async def test_creator_becomes_admin_of_what_it_creates(world: World) -> None:
    reg = world.reg
    await reg.push_blob("acme/made", b"x", user="maker", password=PW)
    assert await _granted(reg, ("maker", PW), "acme/made") == ALL
    r = await reg.http.get("/api/v1/repository/acme/made/permissions/user/", headers=world.api["maker"])
    assert r.json()["permissions"]["maker"]["role"] == "admin"
    # other creators do not get in
    assert await _granted(reg, ("reader", PW), "acme/made") == NONE


async def test_revoking_a_grant_takes_effect(world: World) -> None:
    reg = world.reg
    owner = world.api["owner"]
    r = await reg.http.delete("/api/v1/repository/acme/app/permissions/team/writers", headers=owner)
    assert r.status_code == 204
    assert await _granted(reg, ("writer", PW), "acme/app") == NONE
    r = await reg.http.delete("/api/v1/organization/acme/team/readers/members/reader", headers=owner)
    assert r.status_code == 204
    assert await _granted(reg, ("reader", PW), "acme/app") == NONE
    r = await reg.http.delete("/api/v1/repository/acme/app/permissions/team/writers", headers=owner)
    assert r.status_code == 404


async def test_catalog_follows_the_resolver(world: World) -> None:
    reg = world.reg

    async def catalog(user: str) -> list[str]:
        r = await reg.http.get("/v2/auth", params={"scope": "registry:catalog:*"}, auth=(user, PW))
        c = await reg.http.get("/v2/_catalog", headers={"Authorization": f"Bearer {r.json()['token']}"})
        return list(c.json()["repositories"])

    assert await catalog("owner") == ["acme/app", "acme/pub"]
    assert await catalog("reader") == ["acme/app", "acme/pub"]
    assert await catalog("outsider") == []
    assert await catalog("maker") == []


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_a_user_read_token_lists_no_private_repository(world: World, who: str) -> None:
    """A token with only user:read reads no private repository, so neither search, the repository
    listing nor the catalog (through a registry token it logs in for) names one; repo:read does."""
    reg = world.reg
    token = await api_token(reg, who, frozenset({scopes.USER_READ}))
    # the superuser reads acme/app through its super:user scope, the owner through repo:read
    reading = await api_token(
        reg, who, frozenset({scopes.SUPER_USER if who == "admin" else scopes.REPO_READ})
    )

    async def found(headers: dict[str, str]) -> set[str]:
        r = await reg.http.get("/api/v1/find/repositories", params={"query": "acme"}, headers=headers)
        assert r.status_code == 200, r.text
        return {f"{x['namespace']['name']}/{x['name']}" for x in r.json()["results"]}

    async def catalog(headers: dict[str, str]) -> set[str]:
        password = headers["Authorization"].removeprefix("Bearer ")
        r = await reg.http.get(
            "/v2/auth", params={"scope": "registry:catalog:*"}, auth=("$oauthtoken", password)
        )
        assert r.status_code == 200, r.text
        c = await reg.http.get("/v2/_catalog", headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert c.status_code == 200, c.text
        return set(c.json()["repositories"])

    assert "acme/app" in await found(reading) and "acme/app" in await catalog(reading)
    assert "acme/app" not in await found(token)
    assert "acme/app" not in await catalog(token)
    r = await reg.http.get("/api/v1/repository", params={"namespace": "acme"}, headers=token)
    assert r.status_code == 403 or "app" not in {x["name"] for x in r.json()["repositories"]}


async def test_organization_views(world: World) -> None:
    http: httpx.AsyncClient = world.reg.http
    r = await http.get("/api/v1/organization/acme", headers=world.api["owner"])
    body = r.json()
    assert body["is_admin"] is True and body["ordered_teams"] == ["makers", "owners", "readers", "writers"]
    assert body["teams"]["owners"]["role"] == "admin"
    r = await http.get("/api/v1/organization/acme", headers=world.api["outsider"])
    assert r.json()["is_member"] is False and "teams" not in r.json()
    r = await http.get("/api/v1/organization/acme/members", headers=world.api["owner"])
    assert [m["name"] for m in r.json()["members"]] == ["disabled", "maker", "owner", "reader", "writer"]
    r = await http.get("/api/v1/organization/acme/team/readers/members", headers=world.api["owner"])
    assert [m["name"] for m in r.json()["members"]] == ["disabled", "reader"]
    assert (
        await http.delete("/api/v1/organization/acme/team/owners", headers=world.api["owner"])
    ).status_code == 400
    r = await http.delete("/api/v1/organization/acme/team/owners/members/owner", headers=world.api["owner"])
    assert r.status_code == 400  # the last owner stays
    assert (await http.get("/api/v1/organization/nope")).status_code == 404
    r = await http.post("/api/v1/organization/", json={"name": "owner"}, headers=world.api["outsider"])
    assert r.status_code == 400  # the name is a user's


async def test_deleting_an_organization(world: World) -> None:
    http = world.reg.http
    assert (await http.delete("/api/v1/organization/acme", headers=world.api["reader"])).status_code == 403
    assert (await http.delete("/api/v1/organization/acme", headers=world.api["owner"])).status_code == 204
    assert (await http.get("/api/v1/organization/acme")).status_code == 404
    assert await _granted(world.reg, ("owner", PW), "acme/app") == NONE


async def test_who_holds_what(world: World) -> None:
    http = world.reg.http
    owner = world.api["owner"]
    r = await http.get("/api/v1/repository/acme/app/permissions/user/writer/transitive", headers=owner)
    assert r.json() == {"permissions": [{"role": "write"}]}
    r = await http.get("/api/v1/repository/acme/app/permissions/user/outsider/transitive", headers=owner)
    assert r.json() == {"permissions": []}
    r = await http.get("/api/v1/organization/acme/team/readers/permissions", headers=world.api["reader"])
    assert r.json() == {
        "permissions": [
            {"repository": {"name": "acme/app", "is_public": False}, "role": "read"},
            {"repository": {"name": "acme/pub", "is_public": True}, "role": "read"},
        ]
    }
    assert (
        await http.get("/api/v1/organization/acme/team/readers/permissions", headers=world.api["outsider"])
    ).status_code == 403
    token = (await http.put("/api/v1/organization/acme/robots/bot", headers=owner)).json()["token"]
    assert token
    await http.put(
        "/api/v1/repository/acme/pub/permissions/user/acme+bot", json={"role": "write"}, headers=owner
    )
    r = await http.get("/api/v1/organization/acme/robots/bot/permissions", headers=owner)
    assert r.json() == {
        "permissions": [{"repository": {"name": "acme/pub", "is_public": True}, "role": "write"}]
    }
