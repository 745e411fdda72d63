"""The Repositories part of /api/v1 (create, list, get, update, visibility, state), stars, search,
and the registry-wide read-only mode, through the real surfaces."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World, api_token
from wharf.app import WharfApp, build_app
from wharf.config import ConfigError, Settings, load_settings
from wharf.core import scopes
from wharf.db.engine import Database, Db
from wharf.db.models import Base, LogEntry, Star

# ---------------------------------------------------------------------------------------------- helpers


async def _log(reg: RegistryClient, kind: str) -> list[dict[str, Any]]:
    rows = await reg.wharf.rt.db.read(
        lambda db: db.execute(
            select(LogEntry.metadata_json).where(LogEntry.kind == kind).order_by(LogEntry.id)
        ).all()
    )
    return [json.loads(r[0]) for r in rows]


async def _token(reg: RegistryClient, repo: str, user: str, actions: str = "pull,push") -> dict[str, str]:
    """A fresh registry token (never a cached one: state changes must show)."""
    password = PW if user != "admin" else None
    kw: dict[str, Any] = {"user": user} if password is None else {"user": user, "password": password}
    return {"Authorization": f"Bearer {await reg.token(f'repository:{repo}:{actions}', **kw)}"}


async def _push_refused(reg: RegistryClient, repo: str, user: str) -> dict[str, Any]:
    r = await reg.http.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": sha256(b"x")},
        content=b"x",
        headers=await _token(reg, repo, user),
    )
    assert r.status_code == 403, r.text
    return dict(r.json()["errors"][0])


def _quay_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert {"type", "title", "status", "detail", "error_message", "error_type"} <= set(body)
    assert body["status"] == status
    return body


def _names(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [f"{x['namespace']}/{x['name']}" for x in r.json()["repositories"]]


# ------------------------------------------------------------------------------------------- createRepo


async def test_create_repo(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.post(
        "/api/v1/repository",
        json={"namespace": "acme", "repository": "new", "visibility": "public", "description": "# New"},
        headers=owner,
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"namespace": "acme", "name": "new", "kind": "image"}
    got = (await http.get("/api/v1/repository/acme/new")).json()  # public: anonymous reads it
    assert got["description"] == "# New" and got["is_public"] is True and got["state"] == "NORMAL"
    assert got["tags"] == {}
    assert {"repo": "new", "namespace": "acme"}.items() <= (await _log(world.reg, "create_repo"))[-1].items()

    # the namespace defaults to the caller's own, and nested names are fine
    r = await http.post(
        "/api/v1/repository",
        json={"repository": "tools/cli", "visibility": "private"},
        headers=world.api["writer"],
    )
    assert r.status_code == 201 and r.json()["namespace"] == "writer"
    mine = (await http.get("/api/v1/repository/writer/tools/cli", headers=world.api["writer"])).json()
    assert mine["is_public"] is False and mine["is_organization"] is False and mine["can_admin"] is True

    # a member of a creator team creates, and administers what it created
    r = await http.post(
        "/api/v1/repository",
        json={"namespace": "acme", "repository": "made", "visibility": "private", "repo_kind": "image"},
        headers=world.api["maker"],
    )
    assert r.status_code == 201, r.text
    made = (await http.get("/api/v1/repository/acme/made", headers=world.api["maker"])).json()
    assert made["can_admin"] is True and made["description"] is None


# who, body, status, a piece of the error detail
CREATE_REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("owner", {"namespace": "acme", "repository": "app", "visibility": "private"}, 400, "already exists"),
    ("owner", {"namespace": "acme", "repository": "Bad", "visibility": "private"}, 400, "Invalid"),
    ("owner", {"namespace": "acme", "repository": "a//b", "visibility": "private"}, 400, "Invalid"),
    ("owner", {"namespace": "acme", "repository": "../x", "visibility": "private"}, 400, "Invalid"),
    ("owner", {"namespace": "acme", "repository": "x", "visibility": "secret"}, 400, "visibility"),
    ("owner", {"namespace": "acme", "repository": "x"}, 400, "visibility"),
    ("owner", {"namespace": "acme", "visibility": "public"}, 400, "repository"),
    (
        "owner",
        {"namespace": "acme", "repository": "x", "visibility": "public", "repo_kind": "application"},
        400,
        "repo_kind",
    ),
    ("owner", {"namespace": "nobody", "repository": "x", "visibility": "public"}, 404, "nobody"),
    ("owner", {"namespace": "acme+bot", "repository": "x", "visibility": "public"}, 404, "acme+bot"),
    ("reader", {"namespace": "acme", "repository": "x", "visibility": "public"}, 403, "acme"),
    ("writer", {"namespace": "acme", "repository": "app", "visibility": "public"}, 403, "acme"),
    ("outsider", {"namespace": "reader", "repository": "x", "visibility": "public"}, 403, "reader"),
    ("anonymous", {"namespace": "acme", "repository": "x", "visibility": "public"}, 401, ""),
]


async def test_create_repo_refusals(world: World) -> None:
    for who, body, status, detail in CREATE_REFUSALS:
        r = await world.reg.http.post("/api/v1/repository", json=body, headers=world.api.get(who, {}))
        assert detail in _quay_error(r, status)["detail"], (who, body)
    names = _names(await world.reg.http.get("/api/v1/repository?public=true", headers=world.api["admin"]))
    assert names == ["acme/app", "acme/pub"]  # nothing was created


async def test_create_repo_needs_the_create_scope(world: World) -> None:
    token = await api_token(world.reg, "owner", frozenset({scopes.REPO_ADMIN}))
    r = await world.reg.http.post(
        "/api/v1/repository",
        json={"namespace": "acme", "repository": "x", "visibility": "public"},
        headers=token,
    )
    _quay_error(r, 403)


# ---------------------------------------------------------------------------------------------- getRepo


async def test_get_repo(world: World) -> None:
    reg, http = world.reg, world.reg.http
    digest, _ = await reg.push_image("acme/app", "latest")
    await reg.push_image("acme/app", "v1", layers=1)
    got = (await http.get("/api/v1/repository/acme/app", headers=world.api["owner"])).json()
    assert {k: got[k] for k in got if k not in ("tags", "description")} == {
        "namespace": "acme",
        "name": "app",
        "kind": "image",
        "is_public": False,
        "is_organization": True,
        "is_starred": False,
        "status_token": "",
        "trust_enabled": False,
        "tag_expiration_s": 14 * 24 * 3600,
        "is_free_account": True,
        "state": "NORMAL",
        "can_write": True,
        "can_admin": True,
    }
    assert set(got["tags"]) == {"latest", "v1"}
    latest = got["tags"]["latest"]
    assert latest["name"] == "latest" and latest["manifest_digest"] == digest
    assert latest["size"] > 2 * 1024  # config and two 1 KiB layers
    assert abs(parsedate_to_datetime(latest["last_modified"]).timestamp() - time.time()) < 300

    no_tags = (
        await http.get("/api/v1/repository/acme/app?includeTags=false", headers=world.api["owner"])
    ).json()
    assert "tags" not in no_tags and "stats" not in no_tags
    stats = (
        await http.get("/api/v1/repository/acme/app?includeStats=true", headers=world.api["owner"])
    ).json()
    assert len(stats["stats"]) == 91 and stats["stats"][-1]["count"] >= 2  # today's pushes
    assert [s["date"] for s in stats["stats"]] == sorted(s["date"] for s in stats["stats"])
    bad = await http.get("/api/v1/repository/acme/app?includeTags=maybe", headers=world.api["owner"])
    _quay_error(bad, 400)


# identity -> (status, can_write, can_admin) on private acme/app, then on public acme/pub
GET_TABLE: dict[str, tuple[tuple[int, bool, bool], tuple[int, bool, bool]]] = {
    "anonymous": ((401, False, False), (200, False, False)),
    "admin": ((200, True, True), (200, True, True)),
    "owner": ((200, True, True), (200, True, True)),
    "direct": ((200, True, True), (200, True, True)),
    "writer": ((200, True, False), (200, True, False)),
    "reader": ((200, False, False), (200, False, False)),
    "maker": ((404, False, False), (200, False, False)),
    "outsider": ((404, False, False), (200, False, False)),
}


async def test_get_repo_visibility(world: World) -> None:
    for who, expected in GET_TABLE.items():
        for repo, (status, can_write, can_admin) in zip(("acme/app", "acme/pub"), expected, strict=True):
            r = await world.reg.http.get(f"/api/v1/repository/{repo}", headers=world.api.get(who, {}))
            if status != 200:
                _quay_error(r, status)
                continue
            assert r.status_code == 200, r.text
            assert (r.json()["can_write"], r.json()["can_admin"]) == (can_write, can_admin), (who, repo)


async def test_get_repo_hides_what_does_not_exist(world: World) -> None:
    http = world.reg.http
    for path in ("acme/nothing", "nobody/app", "acme/UPPER", "acme/app/%2E%2E/pub"):
        _quay_error(await http.get(f"/api/v1/repository/{path}", headers=world.api["outsider"]), 404)
    _quay_error(await http.get("/api/v1/repository/acme/nothing"), 401)
    # a token capped at no repository scope reads no private repository
    user_only = await api_token(world.reg, "owner", frozenset({scopes.USER_READ}))
    _quay_error(await http.get("/api/v1/repository/acme/app", headers=user_only), 404)


async def test_anonymous_access_off_hides_public_repositories(world: World, settings: Settings) -> None:
    async with _app(settings, FEATURE_ANONYMOUS_ACCESS=False) as http:
        _quay_error(await http.get("/api/v1/repository/acme/pub"), 401)
        assert _names(await http.get("/api/v1/repository?public=true")) == []
        assert (await http.get("/api/v1/find/repositories?query=pub")).json()["results"] == []
        assert _names(await http.get("/api/v1/repository?public=true", headers=world.api["outsider"])) == [
            "acme/pub"
        ]


# ------------------------------------------------------------------------------------------- updateRepo


async def test_update_repo(world: World) -> None:
    http = world.reg.http
    r = await http.put(
        "/api/v1/repository/acme/app", json={"description": "Our app"}, headers=world.api["writer"]
    )
    assert r.status_code == 200 and r.json() == {"success": True}
    got = (await http.get("/api/v1/repository/acme/app", headers=world.api["reader"])).json()
    assert got["description"] == "Our app"
    assert (await _log(world.reg, "set_repo_description"))[-1]["description"] == "Our app"

    body = {"description": "nope"}
    _quay_error(await http.put("/api/v1/repository/acme/app", json=body, headers=world.api["reader"]), 403)
    _quay_error(await http.put("/api/v1/repository/acme/pub", json=body, headers=world.api["outsider"]), 403)
    _quay_error(await http.put("/api/v1/repository/acme/app", json=body, headers=world.api["outsider"]), 404)
    _quay_error(await http.put("/api/v1/repository/acme/app", json=body), 401)
    _quay_error(await http.put("/api/v1/repository/acme/app", json={}, headers=world.api["writer"]), 400)
    huge = {"description": "x" * (256 * 1024 + 1)}
    _quay_error(await http.put("/api/v1/repository/acme/app", json=huge, headers=world.api["writer"]), 400)
    assert (await http.get("/api/v1/repository/acme/app", headers=world.api["owner"])).json()[
        "description"
    ] == ("Our app")


# ------------------------------------------------------------------------------------ changevisibility


async def test_change_visibility(world: World) -> None:
    http = world.reg.http
    path = "/api/v1/repository/acme/app/changevisibility"
    r = await http.post(path, json={"visibility": "public"}, headers=world.api["direct"])
    assert r.status_code == 200 and r.json() == {"success": True}
    assert (await http.get("/api/v1/repository/acme/app")).json()["is_public"] is True
    assert (await _log(world.reg, "change_repo_visibility"))[-1]["visibility"] == "public"

    _quay_error(await http.post(path, json={"visibility": "private"}, headers=world.api["writer"]), 403)
    _quay_error(await http.post(path, json={"visibility": "private"}, headers=world.api["outsider"]), 403)
    _quay_error(await http.post(path, json={"visibility": "hidden"}, headers=world.api["owner"]), 400)
    _quay_error(await http.post(path, json={"visibility": "private"}), 401)
    r = await http.post(path, json={"visibility": "private"}, headers=world.api["owner"])
    assert r.status_code == 200
    _quay_error(await http.get("/api/v1/repository/acme/app"), 401)
    _quay_error(await http.get("/api/v1/repository/acme/app", headers=world.api["outsider"]), 404)


# ---------------------------------------------------------------------------------- changestate, READ_ONLY


async def test_read_only_repository_refuses_every_write(world: World) -> None:
    reg, http = world.reg, world.reg.http
    digest, _ = await reg.push_image("acme/app", "latest")
    state = "/api/v1/repository/acme/app/changestate"
    _quay_error(await http.put(state, json={"state": "READ_ONLY"}, headers=world.api["writer"]), 403)
    _quay_error(await http.put(state, json={"state": "BROKEN"}, headers=world.api["owner"]), 400)
    r = await http.put(state, json={"state": "READ_ONLY"}, headers=world.api["owner"])
    assert r.status_code == 200 and r.json() == {"success": True}
    assert (await _log(reg, "change_repo_state"))[-1]["state_changed"] == "READ_ONLY"

    got = (await http.get("/api/v1/repository/acme/app", headers=world.api["writer"])).json()
    assert got["state"] == "READ_ONLY" and got["can_write"] is False
    # /api/v1: 503 in Quay's shape, for writers and admins alike
    for who in ("writer", "owner", "admin"):
        r = await http.put("/api/v1/repository/acme/app", json={"description": "x"}, headers=world.api[who])
        assert "READ_ONLY" in _quay_error(r, 503)["detail"]
    # /v2: no push and no delete, whoever asks (tokens no longer carry push); pulls still work
    for who in ("writer", "admin"):
        assert (await _push_refused(reg, "acme/app", who))["code"] == "DENIED"
    cached = await reg.headers("acme/app")  # a token minted before the change still carries push
    r = await http.delete(f"/v2/acme/app/manifests/{digest}", headers=cached)
    assert r.status_code == 403 and "read-only" in r.json()["errors"][0]["message"]
    r = await http.get(
        "/v2/acme/app/manifests/latest", headers=await _token(reg, "acme/app", "reader", "pull")
    )
    assert r.status_code == 200
    # what stays allowed: the state itself, visibility, stars
    r = await http.post(
        "/api/v1/repository/acme/app/changevisibility",
        json={"visibility": "public"},
        headers=world.api["owner"],
    )
    assert r.status_code == 200
    r = await http.post(
        "/api/v1/user/starred", json={"namespace": "acme", "repository": "app"}, headers=world.api["writer"]
    )
    assert r.status_code == 201

    # MIRROR refuses writes too; NORMAL takes them again
    assert (await http.put(state, json={"state": "MIRROR"}, headers=world.api["owner"])).status_code == 200
    r = await http.put("/api/v1/repository/acme/app", json={"description": "x"}, headers=world.api["owner"])
    assert "MIRROR" in _quay_error(r, 503)["detail"]
    assert (await http.put(state, json={"state": "NORMAL"}, headers=world.api["owner"])).status_code == 200
    r = await http.put("/api/v1/repository/acme/app", json={"description": "x"}, headers=world.api["writer"])
    assert r.status_code == 200
    await reg.push_blob("acme/app", b"after", user="writer", password=PW)


async def test_read_only_repository_can_be_deleted(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put("/api/v1/repository/acme/pub/changestate", json={"state": "READ_ONLY"}, headers=owner)
    assert r.status_code == 200
    assert (await http.delete("/api/v1/repository/acme/pub", headers=owner)).status_code == 204
    _quay_error(await http.get("/api/v1/repository/acme/pub", headers=owner), 404)


# -------------------------------------------------------------------------------------------- listRepos


async def test_list_repos(world: World) -> None:
    reg, http = world.reg, world.reg.http
    _quay_error(await http.get("/api/v1/repository", headers=world.api["owner"]), 400)
    _quay_error(await http.get("/api/v1/repository?starred=true"), 400)  # anonymous has no stars
    _quay_error(await http.get("/api/v1/repository?public=sure", headers=world.api["owner"]), 400)
    _quay_error(await http.get("/api/v1/repository?namespace=acme&repo_kind=application"), 400)

    # a namespace: what the caller has a role on; public ones too only with public=true
    assert _names(await http.get("/api/v1/repository?namespace=acme", headers=world.api["reader"])) == [
        "acme/app",
        "acme/pub",
    ]
    assert _names(await http.get("/api/v1/repository?namespace=acme", headers=world.api["outsider"])) == []
    assert _names(
        await http.get("/api/v1/repository?namespace=acme&public=true", headers=world.api["outsider"])
    ) == ["acme/pub"]
    assert _names(await http.get("/api/v1/repository?public=true")) == ["acme/pub"]
    assert _names(await http.get("/api/v1/repository?namespace=nobody", headers=world.api["owner"])) == []
    assert "acme/app" in _names(await http.get("/api/v1/repository?public=true", headers=world.api["admin"]))

    # the optional fields
    await reg.push_image("acme/app", "latest")
    r = await http.get(
        "/api/v1/repository?namespace=acme&last_modified=true&popularity=true", headers=world.api["owner"]
    )
    app, pub = r.json()["repositories"]
    assert {
        k: app[k] for k in ("namespace", "name", "description", "is_public", "kind", "state", "is_starred")
    } == {
        "namespace": "acme",
        "name": "app",
        "description": None,
        "is_public": False,
        "kind": "image",
        "state": "NORMAL",
        "is_starred": False,
    }
    assert abs(app["last_modified"] - time.time()) < 300 and pub["last_modified"] is None
    assert isinstance(app["popularity"], float) and app["popularity"] >= 2  # create + push
    assert app["popularity"] > pub["popularity"] - 10
    plain = (await http.get("/api/v1/repository?namespace=acme", headers=world.api["owner"])).json()
    assert "last_modified" not in plain["repositories"][0] and "popularity" not in plain["repositories"][0]
    assert "next_page" not in plain

    # a token without repo:read lists nothing
    user_only = await api_token(reg, "owner", frozenset({scopes.USER_READ}))
    _quay_error(await http.get("/api/v1/repository?namespace=acme", headers=user_only), 403)


async def test_list_repos_pages_and_stars_page_too(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    names = [f"r{i:03d}" for i in range(105)]
    for name in names:
        r = await http.post(
            "/api/v1/repository", json={"repository": name, "visibility": "private"}, headers=owner
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            "/api/v1/user/starred", json={"namespace": "owner", "repository": name}, headers=owner
        )
        assert r.status_code == 201, r.text

    first = (await http.get("/api/v1/repository?namespace=owner", headers=owner)).json()
    assert [x["name"] for x in first["repositories"]] == names[:100]
    assert all(x["is_starred"] for x in first["repositories"])
    second = (
        await http.get(
            "/api/v1/repository",
            params={"namespace": "owner", "next_page": first["next_page"]},
            headers=owner,
        )
    ).json()
    assert [x["name"] for x in second["repositories"]] == names[100:] and "next_page" not in second

    starred = (await http.get("/api/v1/user/starred", headers=owner)).json()
    assert len(starred["repositories"]) == 100
    rest = (
        await http.get("/api/v1/user/starred", params={"next_page": starred["next_page"]}, headers=owner)
    ).json()
    assert [x["name"] for x in rest["repositories"]] == names[100:] and "next_page" not in rest
    assert len(_names(await http.get("/api/v1/repository?starred=true", headers=owner))) == 100

    for bad in ("garbage", first["next_page"][:-4] + "AAAA", "x" * 3000):
        r = await http.get(
            "/api/v1/repository", params={"namespace": "owner", "next_page": bad}, headers=owner
        )
        _quay_error(r, 400)


# ------------------------------------------------------------------------------------------------ stars


async def test_stars(world: World) -> None:
    reg, http = world.reg, world.reg.http
    writer, outsider = world.api["writer"], world.api["outsider"]
    star = {"namespace": "acme", "repository": "app"}
    for _ in range(2):  # starring twice is fine
        r = await http.post("/api/v1/user/starred", json=star, headers=writer)
        assert r.status_code == 201 and r.json() == star
    assert (await http.get("/api/v1/user/starred", headers=writer)).json() == {
        "repositories": [{"namespace": "acme", "name": "app", "description": None, "is_public": False}]
    }
    assert _names(await http.get("/api/v1/repository?starred=true", headers=writer)) == ["acme/app"]
    assert (await http.get("/api/v1/repository/acme/app", headers=writer)).json()["is_starred"] is True
    assert (await http.get("/api/v1/repository/acme/app", headers=world.api["reader"])).json()[
        "is_starred"
    ] is False

    # refusals: what the caller cannot read, anonymous callers, tokens without user:admin, bad bodies
    _quay_error(await http.post("/api/v1/user/starred", json=star, headers=outsider), 404)
    _quay_error(
        await http.post(
            "/api/v1/user/starred", json={"namespace": "acme", "repository": "no"}, headers=writer
        ),
        404,
    )
    _quay_error(await http.post("/api/v1/user/starred", json=star), 401)
    _quay_error(await http.get("/api/v1/user/starred"), 401)
    _quay_error(await http.post("/api/v1/user/starred", json={"namespace": "acme"}, headers=writer), 400)
    repo_only = await api_token(reg, "writer", frozenset({scopes.REPO_READ}))
    _quay_error(await http.get("/api/v1/user/starred", headers=repo_only), 403)
    _quay_error(await http.post("/api/v1/user/starred", json=star, headers=repo_only), 403)

    # unstarring
    assert (await http.delete("/api/v1/user/starred/acme/app", headers=writer)).status_code == 204
    assert (await http.get("/api/v1/user/starred", headers=writer)).json() == {"repositories": []}
    assert (await http.delete("/api/v1/user/starred/acme/app", headers=writer)).status_code == 204  # readable
    _quay_error(await http.delete("/api/v1/user/starred/acme/app", headers=outsider), 404)  # hidden
    _quay_error(await http.delete("/api/v1/user/starred/acme/nothing", headers=writer), 404)
    _quay_error(await http.delete("/api/v1/user/starred/acme/app"), 401)


async def test_stars_follow_access_and_deletion(world: World) -> None:
    reg, http = world.reg, world.reg.http
    outsider, owner = world.api["outsider"], world.api["owner"]
    pub = {"namespace": "acme", "repository": "pub"}
    assert (await http.post("/api/v1/user/starred", json=pub, headers=outsider)).status_code == 201
    assert (await http.post("/api/v1/user/starred", json=pub, headers=owner)).status_code == 201
    # once private, the outsider's star is hidden, and can still be removed
    r = await http.post(
        "/api/v1/repository/acme/pub/changevisibility", json={"visibility": "private"}, headers=owner
    )
    assert r.status_code == 200
    assert (await http.get("/api/v1/user/starred", headers=outsider)).json()["repositories"] == []
    assert _names(await http.get("/api/v1/repository?starred=true", headers=outsider)) == []
    assert (await http.delete("/api/v1/user/starred/acme/pub", headers=outsider)).status_code == 204
    # deleting the repository takes its stars
    assert (await http.delete("/api/v1/repository/acme/pub", headers=owner)).status_code == 204
    assert (await http.get("/api/v1/user/starred", headers=owner)).json()["repositories"] == []
    count = await reg.wharf.rt.db.read(
        lambda db: db.execute(select(func.count()).select_from(Star)).scalar_one()
    )
    assert count == 0


# ----------------------------------------------------------------------------------------------- search


async def test_search(world: World) -> None:
    reg, http = world.reg, world.reg.http

    async def found(query: str, who: str | None = None, **params: Any) -> list[str]:
        r = await http.get(
            "/api/v1/find/repositories",
            params={"query": query, **params},
            headers=world.api.get(who or "", {}),
        )
        assert r.status_code == 200, r.text
        return [f"{x['namespace']['name']}/{x['name']}" for x in r.json()["results"]]

    assert await found("acme", "reader") == ["acme/app", "acme/pub"]
    assert await found("acme", "outsider") == ["acme/pub"]
    assert await found("acme") == ["acme/pub"]
    assert await found("PUB") == ["acme/pub"]  # names are lowercase; the query is folded
    assert await found("cme/a", "owner") == ["acme/app"]
    assert await found("%", "owner") == [] and await found("_", "owner") == []
    assert await found("acme", "admin") == ["acme/app", "acme/pub"]

    await reg.push_image("acme/pub", "latest")
    await http.post(
        "/api/v1/user/starred", json={"namespace": "acme", "repository": "pub"}, headers=world.api["owner"]
    )
    r = (await http.get("/api/v1/find/repositories?query=pub&includeUsage=true")).json()
    assert r["has_additional"] is False and r["page"] == 1 and r["page_size"] == 10
    (hit,) = r["results"]
    assert hit["kind"] == "repository" and hit["name"] == "pub" and hit["is_public"] is True
    assert hit["namespace"]["kind"] == "organization" and hit["namespace"]["name"] == "acme"
    assert hit["href"] == "/repository/acme/pub" and hit["stars"] == 1
    assert hit["popularity"] >= 1 and abs(hit["last_modified"] - time.time()) < 300
    plain = (await http.get("/api/v1/find/repositories?query=pub")).json()["results"][0]
    assert "stars" not in plain and "popularity" not in plain

    for i in range(25):
        await http.post(
            "/api/v1/repository",
            json={"repository": f"s{i:02d}", "visibility": "public"},
            headers=world.api["owner"],
        )
    page1 = (await http.get("/api/v1/find/repositories?query=owner/s")).json()
    assert len(page1["results"]) == 10 and page1["has_additional"] is True and page1["start_index"] == 0
    page3 = (await http.get("/api/v1/find/repositories?query=owner/s&page=3")).json()
    assert [x["name"] for x in page3["results"]] == [f"s{i:02d}" for i in range(20, 25)]
    assert page3["has_additional"] is False
    clamped = (await http.get("/api/v1/find/repositories?query=owner/s&page=99")).json()
    assert clamped["page"] == 10 and clamped["results"] == []
    _quay_error(await http.get("/api/v1/find/repositories?query=x&page=two"), 400)
    _quay_error(await http.get("/api/v1/find/repositories", params={"query": "x" * 300}), 400)


# ------------------------------------------------------------------------------- registry-wide readonly


@contextlib.asynccontextmanager
async def _app(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second Wharf application over the same database and storage, with other settings."""
    app: WharfApp = build_app(settings.model_copy(update=overrides), run_workers=False)
    try:
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            yield c
    finally:
        await app.rt.close()


async def test_registry_read_only_mode(world: World, settings: Settings) -> None:
    reg = world.reg
    digest, _ = await reg.push_image("acme/app", "latest")
    owner = world.api["owner"]
    async with _app(settings, REGISTRY_STATE="readonly") as http:
        ro = RegistryClient(http, reg.wharf)
        # reads work on both surfaces
        r = await http.get("/api/v1/repository/acme/app", headers=owner)
        assert r.status_code == 200 and r.json()["can_write"] is False
        assert _names(await http.get("/api/v1/repository?namespace=acme", headers=owner)) == [
            "acme/app",
            "acme/pub",
        ]
        assert (await http.get("/api/v1/find/repositories?query=acme")).status_code == 200
        pull = {"Authorization": f"Bearer {await ro.token('repository:acme/app:pull')}"}
        assert (await http.get("/v2/acme/app/manifests/latest", headers=pull)).status_code == 200

        # every /v2 write: 405 DENIED with is_readonly, as Quay answers, saying why
        push = {"Authorization": f"Bearer {await ro.token('repository:acme/app:pull,push,*')}"}
        for method, path in (
            ("POST", "/v2/acme/app/blobs/uploads/"),
            ("POST", "/v2/acme/brand-new/blobs/uploads/"),
            ("PUT", "/v2/acme/app/manifests/v2"),
            ("DELETE", f"/v2/acme/app/manifests/{digest}"),
            ("DELETE", f"/v2/acme/app/blobs/{digest}"),
        ):
            r = await http.request(method, path, headers=push, content=b"{}")
            assert r.status_code == 405, (method, path, r.text)
            error = r.json()["errors"][0]
            assert error["code"] == "DENIED" and "read-only for maintenance" in error["message"]
            assert error["is_readonly"] is True

        # every /api/v1 change: 503 in Quay's shape, whoever asks
        for method, path, body in (
            ("POST", "/api/v1/repository", {"namespace": "acme", "repository": "x", "visibility": "public"}),
            ("PUT", "/api/v1/repository/acme/app", {"description": "x"}),
            ("POST", "/api/v1/repository/acme/app/changevisibility", {"visibility": "public"}),
            ("PUT", "/api/v1/repository/acme/app/changestate", {"state": "NORMAL"}),
            ("DELETE", "/api/v1/repository/acme/app", None),
            ("POST", "/api/v1/user/starred", {"namespace": "acme", "repository": "app"}),
            ("PUT", "/api/v1/repository/acme/app/permissions/user/outsider", {"role": "read"}),
            ("POST", "/api/v1/organization/", {"name": "neworg"}),
        ):
            for headers in (owner, world.api["admin"], {}):
                r = await http.request(method, path, json=body, headers=headers)
                error = _quay_error(r, 503)
                assert error["is_readonly"] is True and "read-only" in error["detail"], (method, path)

        # signing in and out still work
        csrf = {"X-CSRF-Token": (await http.get("/csrf_token")).json()["csrf_token"]}
        r = await http.post("/api/v1/signin", json={"username": "owner", "password": PW}, headers=csrf)
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/signout", headers={"X-CSRF-Token": r.headers["X-Next-CSRF-Token"]})
        assert r.status_code == 200, r.text

    # nothing changed meanwhile, and the normal registry takes writes again
    got = (await reg.http.get("/api/v1/repository/acme/app", headers=owner)).json()
    assert got["can_write"] is True and got["is_public"] is False
    assert _names(await reg.http.get("/api/v1/repository?namespace=acme", headers=owner)) == [
        "acme/app",
        "acme/pub",
    ]
    await reg.push_blob("acme/app", b"after maintenance")


async def test_registry_state_is_validated(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="REGISTRY_STATE"):
        load_settings(None, {"DATA_DIR": settings.DATA_DIR, "REGISTRY_STATE": "maintenance"}, environ={})


def _dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: the whole database, to compare."""
    db = Database(settings.db_uri, pool_size=1)
    try:

        def read(conn: Db) -> dict[str, list[tuple[Any, ...]]]:
            return {
                table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))]
                for table in Base.metadata.sorted_tables
            }

        return db.run_read(read)
    finally:
        db.dispose()


async def test_read_only_mode_writes_nothing_for_reads_and_logins(world: World, settings: Settings) -> None:
    """Pulls and every kind of login work in read-only mode, and leave the database as it was:
    no last-access marks, throttle records, login or pull audit entries. Browser sessions are the
    one documented exception (docs/deploy.md)."""
    reg = world.reg
    _, manifest = await reg.push_image("acme/app", "latest")
    owner = world.api["owner"]
    robot = (await reg.http.put("/api/v1/organization/acme/robots/ci", headers=owner)).json()["token"]
    r = await reg.http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+ci", json={"role": "read"}, headers=owner
    )
    assert r.status_code == 200, r.text
    r = await reg.http.post("/api/v1/user/apptoken", json={"title": "laptop"}, headers=owner)
    app_token = r.json()["token"]["token_code"]
    oauth_token = owner["Authorization"].removeprefix("Bearer ")
    await reg.wharf.rt.audit_buffer.flush()
    before = _dump(settings)

    async with _app(settings, REGISTRY_STATE="readonly") as http:
        ro = RegistryClient(http, reg.wharf)
        for user, password in (
            ("owner", PW),
            ("acme+ci", robot),
            ("$app", app_token),
            ("$oauthtoken", oauth_token),
        ):
            # `docker login` (audited as a login when writable) and a pull's token request
            assert (await http.get("/v2/auth", auth=(user, password))).status_code == 200, user
            token = await ro.token("repository:acme/app:pull", user=user, password=password)
            pull = {"Authorization": f"Bearer {token}"}
            r = await http.get("/v2/acme/app/manifests/latest", headers=pull)
            assert r.status_code == 200, (user, r.text)
            layer = manifest["layers"][0]["digest"]
            assert (await http.get(f"/v2/acme/app/blobs/{layer}", headers=pull)).status_code == 200
            assert (await http.get("/v2/acme/app/tags/list", headers=pull)).status_code == 200
        # failed logins and failed pulls (counted and audited when writable)
        for _ in range(3):
            r = await http.get(
                "/v2/auth", auth=("owner", "wrong"), params={"scope": "repository:acme/app:pull"}
            )
            assert r.status_code == 401
            assert (await http.get("/v2/acme/app/manifests/nope", headers=pull)).status_code == 404
        # the API and the web UI, read
        assert (await http.get("/api/v1/repository/acme/app", headers=owner)).status_code == 200
        assert (await http.get("/api/v1/user/", headers=owner)).status_code == 200
        assert (await http.get("/api/v1/user/", auth=("owner", PW))).status_code in (200, 401)
        csrf = (await http.get("/csrf_token")).json()["csrf_token"]  # Quay's sign-in needs it
        r = await http.post(
            "/api/v1/signin",
            json={"username": "owner", "password": PW},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200, r.text
        assert (await http.get("/repository/acme/app")).status_code == 200
        # a browser-session write is refused all the same
        r = await http.post(
            "/api/v1/user/starred",
            json={"namespace": "acme", "repository": "app"},
            headers={"X-CSRF-Token": r.headers["X-Next-CSRF-Token"]},
        )
        assert r.status_code == 503

    # the web UI: signing in works, a form that would change something shows the read-only page
    readonly = build_app(settings.model_copy(update={"REGISTRY_STATE": "readonly"}), run_workers=False)
    browser = Visitor(readonly)
    try:
        await browser.sign_in("owner", PW)
        r = await browser.submit("/user/owner?tab=settings", "/user/owner/apptokens", title="t", days="30")
        assert r.status_code == 503 and "read-only" in r.text.lower(), r.text[:500]
    finally:
        await browser.close()
        await readonly.rt.close()

    after = _dump(settings)
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == ["web_sessions"], {name: (before[name], after[name]) for name in changed}
    assert len(after["web_sessions"]) == len(before["web_sessions"]) + 2


# ------------------------------------------------------------------- paths and idempotence, as on Quay


async def test_paths_without_their_trailing_slash_redirect(world: World) -> None:
    """Quay defines these with a trailing slash and Flask redirects the slashless form with 308;
    they were read as the nested repository `acme/app/tag` and answered 404."""
    http, owner = world.reg.http, world.api["owner"]
    for path in (
        "/api/v1/repository/acme/app/tag",
        "/api/v1/repository/acme/app/notification",
        "/api/v1/repository/acme/app/permissions/user",
        "/api/v1/repository/acme/app/permissions/team",
        "/api/v1/user",
    ):
        r = await http.get(path, headers=owner)
        assert (r.status_code, r.headers.get("location")) == (308, path + "/"), (path, r.text)
        followed = await http.get(r.headers["location"], headers=owner)
        assert followed.status_code == 200, (path, followed.text)
    # the query string goes along; 308 keeps the method and body for a client that follows it
    r = await http.get("/api/v1/repository/acme/app/tag", params={"limit": "1"}, headers=owner)
    assert r.headers["location"] == "/api/v1/repository/acme/app/tag/?limit=1"
    r = await http.post("/api/v1/repository/acme/app/notification", json={}, headers=owner)
    assert r.status_code == 308
    # a repository named `tag` is still itself: a repository is namespace/name at least
    await world.reg.push_blob("owner/tag", b"x", user="owner", password=PW)
    r = await http.get("/api/v1/repository/owner/tag", headers=owner)
    assert r.status_code == 200 and r.json()["name"] == "tag", r.text


async def test_unknown_subpaths_of_a_repository_are_not_found(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    for method, path in (
        ("POST", "/api/v1/repository/acme/app/nothing"),
        ("POST", "/api/v1/repository/acme/app/tag/v1/nothing"),
        ("PATCH", "/api/v1/repository/acme/app/nothing/else"),
    ):
        _quay_error(await http.request(method, path, headers=owner), 404)
    # a path that exists, with a method it does not have, stays 405
    assert (await http.post("/api/v1/repository/acme/app", headers=owner)).status_code == 405
    assert (await http.patch("/api/v1/repository/acme/app/tag/v1", headers=owner)).status_code == 405


async def test_deleting_a_missing_repository_is_done(world: World) -> None:
    """Quay answers 204 to deleteRepository for a repository that is not there (pubtools-quay's
    remove-repo relies on it), to whoever would administer it."""
    http = world.reg.http
    assert (await http.delete("/api/v1/repository/acme/never", headers=world.api["owner"])).status_code == 204
    assert (
        await http.delete("/api/v1/repository/owner/never", headers=world.api["owner"])
    ).status_code == 204
    assert (await http.delete("/api/v1/repository/acme/never", headers=world.api["admin"])).status_code == 204
    # deleting twice: 204 both times
    assert (await http.delete("/api/v1/repository/acme/app", headers=world.api["owner"])).status_code == 204
    assert (await http.delete("/api/v1/repository/acme/app", headers=world.api["owner"])).status_code == 204
    # who would not administer it learns nothing new: 404 as for any repository it cannot see
    _quay_error(await http.delete("/api/v1/repository/acme/never", headers=world.api["writer"]), 404)
    _quay_error(await http.delete("/api/v1/repository/owner/never", headers=world.api["outsider"]), 404)
    read_only = await api_token(world.reg, "owner", frozenset({scopes.REPO_READ}))
    _quay_error(await http.delete("/api/v1/repository/acme/never", headers=read_only), 404)
