"""Browser sessions on /api/v1: sign-in sets a cookie; every change also needs the CSRF token."""

from __future__ import annotations

from sqlalchemy import update

from tests.conftest import ADMIN_PASSWORD
from tests.integration.world import PW, World
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import WebSession


async def _signin(world: World, user: str = "owner", password: str = PW) -> str:
    csrf = {"X-CSRF-Token": (await world.reg.http.get("/csrf_token")).json()["csrf_token"]}
    r = await world.reg.http.post(
        "/api/v1/signin", json={"username": user, "password": password}, headers=csrf
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    return r.headers["X-Next-CSRF-Token"]


async def test_session_cookie_with_csrf(world: World) -> None:
    http = world.reg.http
    csrf = await _signin(world)
    r = await http.get("/api/v1/user/")
    assert r.status_code == 200 and r.json()["username"] == "owner"
    assert (await http.get("/csrf_token")).json()["csrf_token"] == csrf

    # a change without the CSRF token is refused, with it it goes through
    r = await http.put("/api/v1/organization/acme/team/ops", json={"role": "member"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = await http.put(
        "/api/v1/organization/acme/team/ops", json={"role": "member"}, headers={"X-CSRF-Token": "x" * 43}
    )
    assert r.status_code == 403
    r = await http.put(
        "/api/v1/organization/acme/team/ops", json={"role": "member"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text

    # a session is a full login: no scope cap
    r = await http.post("/api/v1/signin/verify", json={"password": PW})
    assert r.status_code == 200
    assert (await http.post("/api/v1/signout")).status_code == 403  # no logging people out from elsewhere
    r = await http.post("/api/v1/signout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert (await http.get("/api/v1/user/")).status_code == 401
    # signed out, /csrf_token hands out a pre-session token again (as Quay does), not the old one
    r = await http.get("/csrf_token")
    assert r.status_code == 200 and r.json()["csrf_token"] != csrf


async def test_signin_refusals(world: World) -> None:
    http = world.reg.http
    http.headers["X-CSRF-Token"] = (await http.get("/csrf_token")).json()["csrf_token"]
    r = await http.post("/api/v1/signin", json={"username": "owner", "password": "wrong-password"})
    assert r.status_code == 403 and r.json()["invalidCredentials"] is True
    r = await http.post("/api/v1/signin", json={"username": "nobody", "password": "wrong-password"})
    assert r.status_code == 403 and r.json()["message"] == "Invalid username or password"
    r = await http.post("/api/v1/signin", json={"username": "disabled", "password": PW})
    assert r.status_code == 403
    # robots and tokens cannot open browser sessions
    token = (await http.put("/api/v1/organization/acme/robots/bot", headers=world.api["owner"])).json()[
        "token"
    ]
    r = await http.post("/api/v1/signin", json={"username": "acme+bot", "password": token})
    assert r.status_code == 403
    assert (await http.post("/api/v1/signin", content=b"{not json")).status_code == 400
    assert "set-cookie" not in r.headers


async def test_password_change_and_disable_end_sessions(world: World) -> None:
    http = world.reg.http
    await _signin(world, "writer")
    assert (await http.get("/api/v1/user/")).status_code == 200
    r = await http.put(
        "/api/v1/superuser/users/writer", json={"password": "a-new-password"}, headers=world.api["admin"]
    )
    assert r.status_code == 200
    assert (await http.get("/api/v1/user/")).status_code == 401


async def test_bearer_token_wins_over_the_cookie(world: World) -> None:
    http = world.reg.http
    await _signin(world, "owner")
    # with a bearer token, no CSRF token is needed (no ambient credential), and the token decides who calls
    r = await http.get("/api/v1/user/", headers=world.api["reader"])
    assert r.json()["username"] == "reader"
    r = await http.put(
        "/api/v1/organization/acme/team/ops", json={"role": "member"}, headers=world.api["owner"]
    )
    assert r.status_code == 200


async def _age_sessions(world: World) -> None:
    def age(db: Db) -> None:
        db.execute(update(WebSession).values(login_ms=now_ms() - 3_600_000))

    await world.reg.wharf.rt.db.write(age)


async def test_dangerous_calls_need_a_fresh_login(world: World) -> None:
    """Quay's require_fresh_login: a browser session an hour old enters the password again before
    the superuser panel or changing or deleting the account; a bearer token is not asked."""
    http = world.reg.http
    csrf = {"X-CSRF-Token": await _signin(world, "admin", ADMIN_PASSWORD)}
    assert (await http.get("/api/v1/superuser/users/")).status_code == 200  # signed in just now
    await _age_sessions(world)

    r = await http.get("/api/v1/superuser/users/")
    assert r.status_code == 401, r.text
    assert r.json()["error_type"] == "fresh_login_required"
    assert "/api/v1/signin/verify" in r.json()["detail"]
    r = await http.put("/api/v1/user/", json={"email": "root@example.com"}, headers=csrf)
    assert r.status_code == 401 and r.json()["error_type"] == "fresh_login_required"
    assert (await http.get("/api/v1/user/")).status_code == 200  # reading is not dangerous
    assert (await http.get("/api/v1/superuser/users/", headers=world.api["admin"])).status_code == 200

    r = await http.post("/api/v1/signin/verify", json={"password": "wrong"}, headers=csrf)
    assert r.status_code != 200
    assert (await http.get("/api/v1/superuser/users/")).status_code == 401
    r = await http.post("/api/v1/signin/verify", json={"password": ADMIN_PASSWORD}, headers=csrf)
    assert r.status_code == 200, r.text
    assert (await http.get("/api/v1/superuser/users/")).status_code == 200
    r = await http.put("/api/v1/user/", json={"email": "root@example.com"}, headers=csrf)
    assert r.status_code == 200, r.text
