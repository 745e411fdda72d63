"""OAuth applications of an organization, and the browser flows that mint tokens for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.integration.web_client import Form, Visitor, forms_of
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.config import Settings, load_settings

REDIRECT = "https://app.example.com/callback"


@pytest.fixture
def settings(data_dir: object, db_uri: str | None) -> Settings:
    return load_settings(
        None,
        {"DATA_DIR": data_dir, "DB_URI": db_uri, "DIRECT_OAUTH_CLIENTID_WHITELIST": ["DIRECTCLIENT"]},
        environ={},
    )


async def _new_app(world: World) -> dict[str, Any]:
    r = await world.reg.http.post(
        "/api/v1/organization/acme/applications",
        json={"name": "Deploy bot", "redirect_uri": REDIRECT, "application_uri": "https://app.example.com"},
        headers=world.api["owner"],
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_application_crud(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    app = await _new_app(world)
    assert app["name"] == "Deploy bot" and len(app["client_id"]) == 20 and app["client_secret"]
    base = f"/api/v1/organization/acme/applications/{app['client_id']}"
    assert (await http.get("/api/v1/organization/acme/applications", headers=owner)).json()[
        "applications"
    ] == [app]
    assert (await http.get(base, headers=owner)).json() == app
    assert (await http.get(base, headers=world.api["reader"])).status_code == 403
    r = await http.put(
        base,
        json={"name": "Renamed", "redirect_uri": REDIRECT, "application_uri": "https://x.example.com"},
        headers=owner,
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    r = await http.put(
        base, json={"name": "x", "redirect_uri": "javascript:alert(1)", "application_uri": ""}, headers=owner
    )
    assert r.status_code == 400
    new = (await http.post(f"{base}/resetclientsecret", headers=owner)).json()
    assert new["client_secret"] != app["client_secret"]
    info = (await http.get(f"/api/v1/app/{app['client_id']}")).json()
    assert (
        info["name"] == "Renamed" and info["organization"]["name"] == "acme" and "client_secret" not in info
    )
    assert (await http.get("/api/v1/app/NOPE")).status_code == 404
    assert (await http.delete(base, headers=owner)).status_code == 204
    assert (await http.get(base, headers=owner)).status_code == 404


async def test_tokens_minted_for_an_application(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    app = await _new_app(world)
    base = f"/api/v1/organization/acme/applications/{app['client_id']}/tokens"
    r = await http.post(base, json={"name": "ci", "scope": "repo:read"}, headers=owner)
    assert r.status_code == 200, r.text  # as Quay answers
    minted = r.json()
    assert minted["scopes"] == ["repo:read"] and minted["user"] == "owner"
    h = {"Authorization": f"Bearer {minted['access_token']}"}
    # the token's scope caps its user: reading works, administering the organization does not
    assert (await http.get("/api/v1/repository/acme/app/permissions/user/", headers=h)).status_code == 403
    assert (await http.get("/api/v1/organization/acme/members", headers=h)).status_code == 403
    listed = (await http.get(base, headers=owner)).json()["tokens"]
    assert [t["uuid"] for t in listed] == [minted["uuid"]] and "access_token" not in listed[0]
    r = await http.post(base, json={"name": "bad", "scope": "repo:read everything"}, headers=owner)
    assert r.status_code == 400
    assert (await http.delete(f"{base}/{minted['uuid']}", headers=owner)).status_code == 204
    assert (await http.get("/api/v1/user/", headers=h)).status_code == 401
    assert (await http.delete(f"{base}/{minted['uuid']}", headers=owner)).status_code == 404


@pytest.fixture
async def browser(wharf: WharfApp) -> AsyncIterator[Callable[[], Awaitable[Visitor]]]:
    opened: list[Visitor] = []

    async def open_one() -> Visitor:
        opened.append(Visitor(wharf))
        return opened[-1]

    yield open_one
    for v in opened:
        await v.close()


Browser = Callable[[], Awaitable[Visitor]]


def _consent_path(app: dict[str, Any], **params: str) -> str:
    query = {"client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "repo:read", **params}
    return "/oauth/authorize?" + urlencode(query)


def _assert_page_headers(r: httpx.Response) -> None:
    """The web UI's security headers, stricter on the OAuth pages (no cache, no referrer)."""
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"


async def _consent_form(v: Visitor, path: str) -> tuple[httpx.Response, Form]:
    page = await v.get(path)
    assert page.status_code == 200, page.text
    [form] = [f for f in forms_of(page.text) if f.action == "/oauth/authorizeapp"]
    return page, form


async def test_implicit_grant(world: World, browser: Browser) -> None:
    http = world.reg.http
    app = await _new_app(world)
    consent = _consent_path(app, response_type="token", state="s1")
    v = await browser()
    # not signed in: the ordinary sign-in page, which comes back to the consent page
    r = await v.get(consent)
    assert r.status_code == 302
    _assert_page_headers(r)
    signin = urlsplit(r.headers["location"])
    assert signin.path == "/signin" and parse_qs(signin.query)["redirect_url"] == [consent]
    signin_form = await v.form(r.headers["location"], "/signin")
    assert signin_form.fields["redirect_url"] == consent
    r = await v.http.post("/signin", data={**signin_form.fields, "username": "writer", "password": PW})
    assert r.status_code == 303 and r.headers["location"] == consent
    page, form = await _consent_form(v, r.headers["location"])
    _assert_page_headers(page)
    # the form may lead to the application (browsers check form-action on the redirect too)
    assert "form-action 'self' https://app.example.com;" in page.headers["content-security-policy"]
    text = page.text
    assert "Authorize Deploy bot" in text and "View all visible repositories" in text
    assert "<code>repo:read</code>" in text and "repo:write" not in text
    assert REDIRECT in text and "Authorize application" in text and "Cancel" in text
    assert "https://app.example.com" in text and 'name="password"' not in text
    assert form.fields["state"] == "s1" and form.fields["response_type"] == "token"
    # the form without its CSRF token, or with a wrong one, is refused
    for token in (None, "wrong", form.fields["_csrf_token"][:-1]):
        data = {k: val for k, val in form.fields.items() if k != "_csrf_token"}
        if token is not None:
            data["_csrf_token"] = token
        r = await v.http.post("/oauth/authorizeapp", data=data)
        assert r.status_code == 403 and "This form has expired" in r.text and "location" not in r.headers
        _assert_page_headers(r)
    r = await v.http.post("/oauth/authorizeapp", data=form.fields)
    assert r.status_code == 302
    _assert_page_headers(r)
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    fragment = parse_qs(target.fragment)
    assert (
        fragment["token_type"] == ["Bearer"]
        and fragment["state"] == ["s1"]
        and fragment["scope"] == ["repo:read"]
    )
    h = {"Authorization": f"Bearer {fragment['access_token'][0]}"}
    r = await http.get("/api/v1/repository/acme/app/permissions/user/", headers=h)
    assert r.status_code == 403  # repo:read does not administer
    # the token shows up in the application's list, bound to the user who approved
    tokens = (
        await http.get(
            f"/api/v1/organization/acme/applications/{app['client_id']}/tokens", headers=world.api["owner"]
        )
    ).json()
    assert [t["user"] for t in tokens["tokens"]] == ["writer"]


async def test_code_grant(world: World, browser: Browser) -> None:
    http = world.reg.http
    app = await _new_app(world)
    v = await browser()
    await v.sign_in("writer", PW)
    consent = _consent_path(
        app, redirect_uri=REDIRECT + "/sub", scope="repo:write", response_type="code", state="xyz"
    )
    page, form = await _consent_form(v, consent)
    # repo:write implies repo:read: both are listed
    assert "Read/write to any accessible repositories" in page.text
    assert "View all visible repositories" in page.text
    r = await v.http.post("/oauth/authorizeapp", data=form.fields)
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT + "/sub",
        "client_id": app["client_id"],
    }
    r = await http.post("/oauth/access_token", data={**exchange, "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await http.post("/oauth/access_token", data={**exchange, "client_secret": app["client_secret"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "repo:read repo:write"
    r = await http.get(
        "/v2/auth",
        params={"scope": "repository:acme/app:pull,push"},
        auth=("$oauthtoken", body["access_token"]),
    )
    assert r.status_code == 200
    # a code works once
    r = await http.post("/oauth/access_token", data={**exchange, "client_secret": app["client_secret"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await http.post("/oauth/access_token", data={"grant_type": "password", "client_id": app["client_id"]})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_cancel_sends_access_denied(world: World, browser: Browser) -> None:
    app = await _new_app(world)
    v = await browser()
    await v.sign_in("writer", PW)
    for response_type, part in (("token", "fragment"), ("code", "query")):
        _, form = await _consent_form(v, _consent_path(app, response_type=response_type, state="st 8"))
        # a cancel from another site is refused like an approval
        r = await v.http.post("/oauth/authorizeapp", data={**form.fields, "_csrf_token": "x", "cancel": "1"})
        assert r.status_code == 403 and "This form has expired" in r.text
        r = await v.http.post("/oauth/authorizeapp", data={**form.fields, "cancel": "cancel"})
        assert r.status_code == 302
        _assert_page_headers(r)
        target = urlsplit(r.headers["location"])
        answer = parse_qs(getattr(target, part))
        assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
        assert answer["error"] == ["access_denied"] and answer["state"] == ["st 8"]
        assert "access_token" not in answer and "code" not in answer
    tokens = await world.reg.http.get(
        f"/api/v1/organization/acme/applications/{app['client_id']}/tokens", headers=world.api["owner"]
    )
    assert tokens.json()["tokens"] == []


async def test_consent_page_escapes_what_the_application_says(world: World, browser: Browser) -> None:
    r = await world.reg.http.post(
        "/api/v1/organization/acme/applications",
        json={
            "name": "<script>alert(1)</script>",
            "description": "<img src=x onerror=alert(2)>",
            "redirect_uri": REDIRECT,
            "application_uri": 'https://app.example.com/"><script>alert(3)</script>',
        },
        headers=world.api["owner"],
    )
    assert r.status_code == 200, r.text
    v = await browser()
    await v.sign_in("writer", PW)
    page, form = await _consent_form(v, _consent_path(r.json(), state='"><script>alert(4)</script>'))
    text = page.text
    assert "<script>alert" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;img src=x onerror=alert(2)&gt;" in text
    assert form.fields["state"] == '"><script>alert(4)</script>'


async def test_authorization_requests_are_checked(world: World, browser: Browser) -> None:
    http = world.reg.http
    app = await _new_app(world)
    base = {
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "repo:read",
        "response_type": "token",
    }
    # an unregistered redirect is never followed; both errors are pages that say what to do
    r = await http.get("/oauth/authorize", params={**base, "redirect_uri": "https://evil.example.com/"})
    assert r.status_code == 400 and "location" not in r.headers
    assert "Invalid redirect URI" in r.text and "developer" in r.text
    _assert_page_headers(r)
    # a registered URI is a URL, not a prefix (tests/unit/test_oauth_redirects.py has the table)
    for spelling in (
        REDIRECT + "evil.net",
        REDIRECT + ".evil.net/",
        REDIRECT + "/../../evil",
        REDIRECT + "/%2e%2e/x",
    ):
        r = await http.get("/oauth/authorize", params={**base, "redirect_uri": spelling})
        assert r.status_code == 400 and "location" not in r.headers, spelling
    r = await http.get("/oauth/authorize", params={**base, "client_id": "NOPE"})
    assert r.status_code == 404 and "Unknown application" in r.text
    _assert_page_headers(r)
    # a bad scope goes back to the application as an OAuth error
    r = await http.get("/oauth/authorize", params={**base, "scope": "repo:read root"})
    assert r.status_code == 302 and "error=invalid_scope" in r.headers["location"]
    r = await http.get("/oauth/authorize", params={**base, "response_type": "id_token"})
    assert "error=unsupported_response_type" in r.headers["location"]
    # Basic credentials only for whitelisted clients
    r = await http.post("/oauth/authorizeapp", data=base, auth=("writer", PW))
    assert r.status_code == 403 and "Not allowed" in r.text
    _assert_page_headers(r)
    r = await http.post("/oauth/authorizeapp", data=base)
    assert r.status_code == 401 and "Sign in first" in r.text
    # a username and password in the form neither approve nor sign in (only /signin does)
    v = await browser()
    r = await v.http.post("/oauth/authorizeapp", data={**base, "username": "writer", "password": PW})
    assert r.status_code == 401 and "wharf_session" not in r.headers.get("set-cookie", "")
    assert "wharf_session" not in v.http.cookies
    r = await http.post(
        "/oauth/authorizeapp",
        content=b"x" * 600_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=("writer", PW),
    )
    assert r.status_code == 413


async def test_direct_oauth_for_whitelisted_clients(world: World) -> None:
    http = world.reg.http
    app = await _new_app(world)
    from sqlalchemy import update

    from wharf.db.models import OAuthApplication

    await world.reg.wharf.rt.db.write(
        lambda db: db.execute(
            update(OAuthApplication)
            .where(OAuthApplication.client_id == app["client_id"])
            .values(client_id="DIRECTCLIENT")
        )
    )
    params = {
        "client_id": "DIRECTCLIENT",
        "redirect_uri": REDIRECT,
        "scope": "repo:read",
        "response_type": "token",
    }
    r = await http.post("/oauth/authorizeapp", data=params, auth=("reader", PW))
    assert r.status_code == 302
    assert "access_token=" in r.headers["location"] and "set-cookie" not in r.headers
    r = await http.post("/oauth/authorizeapp", data=params, auth=("reader", "wrong-password"))
    assert r.status_code == 403 and "Invalid username or password" in r.text
    _assert_page_headers(r)
