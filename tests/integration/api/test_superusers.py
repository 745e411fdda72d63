"""The two kinds of superuser, as Quay defines them, and the superuser panel's reads.

- GLOBAL_READONLY_SUPER_USERS: reads everything a superuser reads (users, organizations, logs,
  every repository, robots without their tokens), changes nothing but their own things (403).
- FEATURE_SUPERUSERS_FULL_ACCESS: with it (Wharf's default) superusers hold every right on every
  namespace; without it they have the superuser panel only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.world import PW, World, api_token
from wharf.config import Settings, load_settings
from wharf.core import accounts, scopes

SECRETS = ("db-secret-key-0123", "smtp-password-0123", "s3-secret-0123", "s3-access-0123")


@pytest.fixture
def settings(request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None) -> Settings:
    overrides: dict[str, Any] = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "GLOBAL_READONLY_SUPER_USERS": ["auditor"],
        "DATABASE_SECRET_KEY": SECRETS[0],
        "MAIL_PASSWORD": SECRETS[1],
        **getattr(request, "param", {}),
    }
    return load_settings(None, overrides, environ={})


async def _auditor(world: World, granted: frozenset[str] = scopes.ALL) -> dict[str, str]:
    if await world.reg.wharf.rt.db.read(accounts.get_by_name, "auditor") is None:
        await world.reg.create_user("auditor", PW)
    return await api_token(world.reg, "auditor", granted)


async def _statuses(
    http: httpx.AsyncClient, headers: dict[str, str], calls: list[tuple[str, str, Any]]
) -> list[int]:
    return [
        (await http.request(method, path, json=body, headers=headers)).status_code
        for method, path, body in calls
    ]


PANEL_READS = [
    ("GET", "/api/v1/superuser/users/", None),
    ("GET", "/api/v1/superuser/users/owner", None),
    ("GET", "/api/v1/superuser/organizations/", None),
    ("GET", "/api/v1/superuser/logs", None),
    ("GET", "/api/v1/superuser/aggregatelogs", None),
    ("GET", "/api/v1/superuser/apptokens", None),
    ("GET", "/api/v1/superuser/registrysize/", None),
    ("GET", "/api/v1/superuser/config", None),
    ("GET", "/api/v1/superuser/changelog/", None),
]
PANEL_WRITES = [
    ("POST", "/api/v1/superuser/users/", {"username": "newbie"}),
    ("PUT", "/api/v1/superuser/users/owner", {"enabled": False}),
    ("DELETE", "/api/v1/superuser/users/outsider", None),
    ("DELETE", "/api/v1/superuser/organizations/acme", None),
    ("POST", "/api/v1/superuser/takeownership/outsider", None),
    ("POST", "/api/v1/superuser/registrysize/", None),
    ("POST", "/api/v1/messages", {"message": {"content": "hi"}}),
]
NAMESPACE_READS = [
    ("GET", "/api/v1/repository/acme/app", None),
    ("GET", "/api/v1/repository/acme/app/tag/", None),
    ("GET", "/api/v1/repository/acme/app/permissions/user/", None),
    ("GET", "/api/v1/repository/acme/app/permissions/team/", None),
    ("GET", "/api/v1/repository/acme/app/logs", None),
    ("GET", "/api/v1/repository/acme/app/notification/", None),
    ("GET", "/api/v1/organization/acme/members", None),
    ("GET", "/api/v1/organization/acme/robots", None),
    ("GET", "/api/v1/organization/acme/applications", None),
    ("GET", "/api/v1/organization/acme/logs", None),
    ("GET", "/api/v1/organization/acme/team/readers/members", None),
]
NAMESPACE_WRITES = [
    ("PUT", "/api/v1/repository/acme/app", {"description": "x"}),
    ("POST", "/api/v1/repository/acme/app/changevisibility", {"visibility": "public"}),
    ("PUT", "/api/v1/repository/acme/app/permissions/user/outsider", {"role": "read"}),
    ("DELETE", "/api/v1/repository/acme/app", None),
    ("PUT", "/api/v1/organization/acme/team/auditors", {"role": "member"}),
    ("PUT", "/api/v1/organization/acme/robots/spy", None),
    ("POST", "/api/v1/organization/acme/applications", {"name": "spy"}),
    ("PUT", "/api/v1/organization/acme", {"email": "spy@example.com"}),
    ("DELETE", "/api/v1/organization/acme", None),
]


async def test_readonly_superuser_reads_everything_and_changes_nothing(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    auditor = await _auditor(world)
    await http.put("/api/v1/organization/acme/robots/ci", headers=owner)
    r = await http.post(
        "/api/v1/organization/acme/applications",
        json={"name": "dash", "redirect_uri": "https://dash.example.com/cb"},
        headers=owner,
    )
    assert r.status_code == 200

    assert await _statuses(http, auditor, PANEL_READS) == [200] * len(PANEL_READS)
    assert await _statuses(http, auditor, NAMESPACE_READS) == [200] * len(NAMESPACE_READS)
    assert await _statuses(http, auditor, PANEL_WRITES) == [403] * len(PANEL_WRITES)
    assert await _statuses(http, auditor, NAMESPACE_WRITES) == [403] * len(NAMESPACE_WRITES)

    # robots without their tokens, applications without their secrets
    robots = (await http.get("/api/v1/organization/acme/robots", headers=auditor)).json()["robots"]
    assert [r["name"] for r in robots] == ["acme+ci"] and "token" not in robots[0]
    robot = (await http.get("/api/v1/organization/acme/robots/ci", headers=auditor)).json()
    assert robot["name"] == "acme+ci" and "token" not in robot
    assert "token" in (await http.get("/api/v1/organization/acme/robots/ci", headers=owner)).json()
    apps = (await http.get("/api/v1/organization/acme/applications", headers=auditor)).json()
    assert apps["applications"][0]["client_secret"] is None
    # ... and the repository's private contents, including in listings
    listed = (await http.get("/api/v1/repository", params={"namespace": "acme"}, headers=auditor)).json()
    assert {r["name"] for r in listed["repositories"]} == {"app", "pub"}
    org = (await http.get("/api/v1/organization/acme", headers=auditor)).json()
    assert org["is_member"] and "owners" in org["teams"]

    # their own things they change like anyone
    r = await http.post(
        "/api/v1/repository", json={"repository": "mine", "visibility": "private"}, headers=auditor
    )
    assert r.status_code == 201, r.text
    assert (await http.delete("/api/v1/repository/auditor/mine", headers=auditor)).status_code == 204


async def test_readonly_superuser_token_needs_the_super_user_scope(world: World) -> None:
    http = world.reg.http
    reader = await _auditor(world, frozenset({scopes.REPO_READ}))
    assert (await http.get("/api/v1/superuser/users/", headers=reader)).status_code == 403
    assert (await http.get("/api/v1/repository/acme/app", headers=reader)).status_code == 404
    both = await _auditor(world, frozenset({scopes.REPO_READ, scopes.SUPER_USER}))
    assert (await http.get("/api/v1/superuser/users/", headers=both)).status_code == 200
    assert (await http.get("/api/v1/repository/acme/app", headers=both)).status_code == 200


async def test_readonly_superuser_pulls_everything_and_pushes_nothing(world: World) -> None:
    await _auditor(world)
    r = await world.reg.http.get(
        "/v2/auth", params={"scope": "repository:acme/app:pull,push,*"}, auth=("auditor", PW)
    )
    assert r.status_code == 200
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await world.reg.http.get("/v2/acme/app/tags/list", headers=h)).status_code == 200
    assert (await world.reg.http.post("/v2/acme/app/blobs/uploads/", headers=h)).status_code in (401, 403)


@pytest.mark.parametrize(
    "settings", [{"SUPER_USERS": ["auditor"], "GLOBAL_READONLY_SUPER_USERS": ["auditor"]}], indirect=True
)
async def test_readonly_wins_over_super_users(world: World) -> None:
    http = world.reg.http
    auditor = await _auditor(world)
    assert (await http.get("/api/v1/superuser/users/", headers=auditor)).status_code == 200
    r = await http.post("/api/v1/superuser/users/", json={"username": "newbie"}, headers=auditor)
    assert r.status_code == 403
    users = (await http.get("/api/v1/superuser/users/", headers=auditor)).json()["users"]
    assert {u["username"]: u["super_user"] for u in users}["auditor"] is False
    me = (await http.get("/api/v1/user/", headers=auditor)).json()
    assert me["super_user"] is False and me["global_readonly_super_user"] is True  # as Quay says it
    admin = (await http.get("/api/v1/user/", headers=world.api["admin"])).json()
    assert "global_readonly_super_user" not in admin


@pytest.mark.parametrize("settings", [{"FEATURE_SUPERUSERS_FULL_ACCESS": False}], indirect=True)
async def test_superusers_without_full_access_have_the_panel_only(world: World) -> None:
    http, admin = world.reg.http, world.api["admin"]
    assert (await http.get("/api/v1/superuser/users/", headers=admin)).status_code == 200
    assert (await http.get("/api/v1/superuser/logs", headers=admin)).status_code == 200
    r = await http.put("/api/v1/superuser/users/outsider", json={"enabled": False}, headers=admin)
    assert r.status_code == 200
    # as on Quay, auditing every user's app tokens needs full access
    assert (await http.get("/api/v1/superuser/apptokens", headers=admin)).status_code == 403
    # another namespace's private repository is like any stranger's: not there
    assert (await http.get("/api/v1/repository/acme/app", headers=admin)).status_code == 404
    assert (await http.get("/api/v1/repository/acme/pub", headers=admin)).status_code == 200
    assert (
        await http.put("/api/v1/organization/acme/team/x", json={"role": "member"}, headers=admin)
    ).status_code == 403
    token = await world.reg.token("repository:acme/app:pull,push")
    h = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/v2/acme/app/tags/list", headers=h)).status_code in (401, 403, 404)
    # and the read-only superuser still reads it
    auditor = await _auditor(world)
    assert (await http.get("/api/v1/repository/acme/app", headers=auditor)).status_code == 200


async def test_superusers_with_full_access_audit_app_tokens(world: World) -> None:
    http = world.reg.http
    r = await http.post("/api/v1/user/apptoken", json={"title": "laptop"}, headers=world.api["writer"])
    assert r.status_code == 200
    for headers in (world.api["admin"], await _auditor(world)):
        found = (await http.get("/api/v1/superuser/apptokens", headers=headers)).json()
        assert [(t["title"], t["owner"]) for t in found["tokens"]] == [("laptop", "writer")]
        assert "token_code" not in found["tokens"][0] and found["only_expiring"] is False
    found = (await http.get("/api/v1/superuser/apptokens?expiring=true", headers=world.api["admin"])).json()
    assert found == {"tokens": [], "only_expiring": True}
    for who in ("owner", "writer"):
        assert (await http.get("/api/v1/superuser/apptokens", headers=world.api[who])).status_code == 403


@pytest.mark.parametrize(
    "settings",
    [
        {
            "DISTRIBUTED_STORAGE_CONFIG": {
                "default": [
                    "S3Storage",
                    {"s3_bucket": "b", "s3_access_key": SECRETS[3], "s3_secret_key": SECRETS[2]},
                ]
            },
            "DISTRIBUTED_STORAGE_PREFERENCE": ["default"],
        }
    ],
    indirect=True,
)
def test_config_dump_hides_every_secret(settings: Settings) -> None:
    from wharf.api.superuser import redact

    dumped = redact(settings.model_dump(mode="json"))
    text = str(dumped)
    for secret in SECRETS:
        assert secret not in text
    assert dumped["DATABASE_SECRET_KEY"] == "**********"
    assert dumped["SUPER_USERS"] == settings.SUPER_USERS
    assert dumped["REGISTRY_TOKEN_LIFETIME_S"] == settings.REGISTRY_TOKEN_LIFETIME_S  # a number, no secret
    assert redact({"URL": "https://user:pw@example.com/x"}) == {"URL": "https://**********@example.com/x"}


async def test_registry_status_size_and_config(world: World) -> None:
    http, admin = world.reg.http, world.api["admin"]
    assert (await http.get("/api/v1/superuser/registrystatus")).json()["status"] == "ready"
    size = (await http.get("/api/v1/superuser/registrysize/", headers=admin)).json()
    assert size["size_bytes"] > 0 and size["queued"] is False and size["running"] is False
    r = await http.get("/api/v1/superuser/config", headers=admin)
    assert r.status_code == 200 and r.json()["env"] == {}
    assert SECRETS[0] not in r.text and SECRETS[1] not in r.text
    assert r.json()["config"]["GLOBAL_READONLY_SUPER_USERS"] == ["auditor"]
    for path in ("config", "registrysize/", "changelog/", "users/", "logs"):
        assert (await http.get(f"/api/v1/superuser/{path}", headers=world.api["owner"])).status_code == 403


async def test_client_key_logs_in_until_the_password_changes(world: World) -> None:
    http, reader = world.reg.http, world.api["reader"]
    r = await http.post("/api/v1/user/clientkey", json={"password": "wrong"}, headers=reader)
    assert r.status_code == 400
    r = await http.post("/api/v1/user/clientkey", json={"password": PW}, headers=reader)
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert PW not in key
    scope = {"scope": "repository:acme/app:pull"}
    assert (await http.get("/v2/auth", params=scope, auth=("reader", key))).status_code == 200
    # it names its user: nobody else can log in with it
    assert (await http.get("/v2/auth", params=scope, auth=("writer", key))).status_code == 401
    account = await world.reg.wharf.rt.db.read(accounts.get_by_name, "reader")
    assert account is not None
    await world.reg.wharf.rt.db.write(accounts.update_user, account, password="another-password-1")
    assert (await http.get("/v2/auth", params=scope, auth=("reader", key))).status_code == 401


async def test_find_all(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    await http.put("/api/v1/organization/acme/robots/acmebot", headers=owner)
    found = (await http.get("/api/v1/find/all", params={"query": "acme"}, headers=owner)).json()["results"]
    kinds = {(r["kind"], r["name"]) for r in found}
    assert {
        ("organization", "acme"),
        ("repository", "app"),
        ("repository", "pub"),
        ("robot", "acme+acmebot"),
    } <= kinds
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True)  # repositories weigh most, as on Quay
    teams = (await http.get("/api/v1/find/all", params={"query": "read"}, headers=owner)).json()["results"]
    assert [(t["name"], t["organization"]["name"]) for t in teams if t["kind"] == "team"] == [
        ("readers", "acme")
    ]
    # a stranger finds the public repository and the organization, not the private one or the robot
    found = (
        await http.get("/api/v1/find/all", params={"query": "acme"}, headers=world.api["outsider"])
    ).json()
    kinds = {(r["kind"], r["name"]) for r in found["results"]}
    assert ("repository", "pub") in kinds and ("repository", "app") not in kinds
    assert ("robot", "acme+acmebot") not in kinds
    assert (await http.get("/api/v1/find/all", params={"query": ""}, headers=owner)).json() == {"results": []}
    user_read = await api_token(world.reg, "owner", frozenset({scopes.USER_READ}))
    assert (
        await http.get("/api/v1/find/all", params={"query": "acme"}, headers=user_read)
    ).status_code == 403
