"""The whole access table: every identity kind x repository visibility x action, through /v2 and
/api/v1 as clients use them. One permission resolver (wharf.auth.permissions) decides all of it.

Identities: anonymous, superuser, a global read-only superuser, organization admin, team members
by role (read team, write team, creator team), a direct grant, an outsider, a disabled user, a
robot, an app token, OAuth tokens per scope, a federated (keyless) robot, and a browser session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD
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


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],
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


# identity -> (what it may do on the private acme/app, on the public acme/pub); None: login refused
REGISTRY = {
    "anonymous": (NOTHING, READ_ONLY),
    "superuser": (EVERYTHING, EVERYTHING),
    "readonly superuser": (READ_ONLY, READ_ONLY),  # pulls everything, pushes and deletes nothing
    "org admin": (EVERYTHING, EVERYTHING),
    "read team": (READ_ONLY, READ_ONLY),
    "write team": (EVERYTHING, EVERYTHING),
    "creator team": (NOTHING, READ_ONLY),
    "direct admin grant": (EVERYTHING, EVERYTHING),
    "outsider": (NOTHING, READ_ONLY),
    "disabled user": None,
    "robot": (READ_ONLY, READ_ONLY),
    "app token": (EVERYTHING, EVERYTHING),  # the writer's
    "federated robot": (READ_ONLY, READ_ONLY),
    # the owner's tokens: the scope caps the owner's admin role
    "oauth repo:read": (READ_ONLY, READ_ONLY),
    "oauth repo:write": (EVERYTHING, EVERYTHING),
    "oauth repo:admin": (EVERYTHING, EVERYTHING),
    "oauth user:read": (NOTHING, READ_ONLY),
    "oauth org:admin": (NOTHING, READ_ONLY),
}


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


@pytest.mark.parametrize("who", list(REGISTRY))
async def test_registry_table(table: Table, who: str) -> None:
    got = [await _can(table.world.reg, table.logins[who], repo) for repo in REPOS]
    expected = REGISTRY[who]
    assert got == (list(expected) if expected is not None else [None, None])


# identity -> statuses of: read acme/app's permissions, change them, create an org robot, create a
# team, delete the repository. 404 where the caller may not know the repository exists.
API = {
    "anonymous": (401, 401, 401, 401, 401),
    "superuser": (200, 200, 201, 200, 204),
    "readonly superuser": (200, 403, 403, 403, 403),  # reads what an admin reads, changes nothing
    "org admin": (200, 200, 201, 200, 204),
    "read team": (403, 403, 403, 403, 403),
    "write team": (403, 403, 403, 403, 403),
    "creator team": (404, 404, 403, 403, 404),
    "direct admin grant": (200, 200, 403, 403, 204),
    "outsider": (404, 404, 403, 403, 404),
    "disabled user": (401, 401, 401, 401, 401),
    "oauth repo:read": (403, 403, 403, 403, 403),
    "oauth repo:write": (403, 403, 403, 403, 403),
    "oauth repo:admin": (200, 200, 403, 403, 204),
    "oauth user:read": (404, 404, 403, 403, 404),
    "oauth org:admin": (404, 404, 201, 200, 404),
    "session": (200, 200, 201, 200, 204),  # the owner signed in through the browser
}


async def _api_statuses(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, ...]:
    return (
        (await http.get("/api/v1/repository/acme/app/permissions/user/", headers=headers)).status_code,
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


@pytest.mark.parametrize("who", list(API))
async def test_api_table(table: Table, who: str) -> None:
    http = table.world.reg.http
    if who == "session":
        csrf = {"X-CSRF-Token": (await http.get("/csrf_token")).json()["csrf_token"]}
        r = await http.post("/api/v1/signin", json={"username": "owner", "password": PW}, headers=csrf)
        headers = {"X-CSRF-Token": r.headers["X-Next-CSRF-Token"]}
    else:
        headers = table.api[who]
    assert await _api_statuses(http, headers) == API[who]
    # after a successful delete the repository is gone from every surface
    if API[who][4] == 204:
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
