"""The web UI in-process: sign-in, CSRF on every form, escaping, and who sees which repository."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.integration.web_client import Visitor, forms_of
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import repositories

Open = Callable[[], Awaitable[Visitor]]


@pytest.fixture
async def browser(wharf: WharfApp) -> AsyncIterator[Open]:
    opened: list[Visitor] = []

    async def open_one() -> Visitor:
        v = Visitor(wharf)
        opened.append(v)
        return v

    yield open_one
    for v in opened:
        await v.close()


async def test_sign_in_and_out(browser: Open) -> None:
    v = await browser()
    r = await v.submit("/signin", "/signin", username="admin", password="wrong-password")
    assert r.status_code == 403
    assert "The username or password is wrong" in r.text
    assert "wharf_session" not in v.http.cookies

    r = await v.sign_in("admin", ADMIN_PASSWORD)
    assert r.headers["location"] == "/"
    home = await v.get("/")
    assert "Your repositories" in home.text and "admin" in home.text

    r = await v.submit("/", "/signout")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert "Sign in" in (await v.get("/")).text
    assert (await v.get("/new/")).status_code == 303  # the session is gone


async def test_sign_in_goes_back_only_to_this_site(browser: Open) -> None:
    v = await browser()
    for target, expected in (("/new/", "/new/"), ("//evil.example/x", "/"), ("https://evil.example", "/")):
        await v.http.get("/signin")
        form = await v.form(f"/signin?redirect_url={target}", "/signin")
        r = await v.http.post(
            "/signin", data={**form.fields, "username": "admin", "password": ADMIN_PASSWORD}
        )
        assert r.headers["location"] == expected
        await v.submit("/", "/signout")


async def test_every_form_refuses_a_missing_or_wrong_csrf_token(browser: Open, world: World) -> None:
    v = await browser()
    await v.sign_in("owner", PW)
    pages = ["/", "/new/", "/repository/acme/app", "/repository/acme/app?tab=tags", "/signin"]
    # the repository's admin tabs, with a notification so that its test/reset/delete forms show
    pages += ["/repository/acme/app?tab=settings", "/repository/acme/app?tab=logs"]
    target = {"target": {"kind": "team", "name": "writers"}}
    made_n = await world.reg.http.post(
        "/api/v1/repository/acme/app/notification/",
        json={"event": "repo_push", "method": "quay_notification", "config": target},
        headers=world.api["owner"],
    )
    assert made_n.status_code == 201, made_n.text
    # organization and user-namespace pages, with a robot and an OAuth application to show
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/ci", headers=owner)).status_code == 201
    made = await http.post(
        "/api/v1/organization/acme/applications",
        json={"name": "ci", "redirect_uri": "https://ci.example.com/cb"},
        headers=owner,
    )
    org = "/organization/acme"
    pages += ["/organizations/new/", f"{org}/teams/readers", f"{org}/robots/ci"]
    pages += [
        f"{org}?tab={t}" for t in ("teams", "robots", "defaultperms", "applications", "settings", "logs")
    ]
    pages += [
        f"{org}/applications/{made.json()['client_id']}",
        "/user/owner?tab=robots",
        "/user/owner?tab=settings",
        "/user/owner?tab=logs",
        f"/oauth/authorize?client_id={made.json()['client_id']}&scope=repo:read",  # the consent page
    ]
    seen: set[str] = set()
    for path in pages:
        r = await v.get(path)
        for form in forms_of(r.text):
            if form.method != "post":
                continue
            seen.add(form.action)
            assert "_csrf_token" in form.fields, f"{form.action} on {path} has no CSRF token"
            for token in (None, "wrong", form.fields["_csrf_token"][:-1]):
                data = {k: val for k, val in form.fields.items() if k != "_csrf_token"}
                if token is not None:
                    data["_csrf_token"] = token
                refused = await v.http.post(form.action, data=data)
                assert refused.status_code == 403, (form.action, token, refused.status_code)
                assert "This form has expired" in refused.text
    assert {"/signout", "/new/", "/organizations/new/", f"{org}/robots/ci/delete", f"{org}/settings"} <= seen
    assert "/oauth/authorizeapp" in seen
    # the session survived all of that: nothing was done
    assert "owner" in (await v.get("/")).text


async def test_sign_in_form_needs_the_token_of_its_own_cookie(browser: Open) -> None:
    """Another site cannot sign a browser into an account: it cannot know the browser's cookie."""
    attacker, victim = await browser(), await browser()
    form = await attacker.form("/signin", "/signin")
    await victim.get("/signin")
    r = await victim.http.post(
        "/signin", data={**form.fields, "username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 403
    assert "wharf_session" not in victim.http.cookies


async def test_create_repository_and_description_renders_inert(browser: Open, wharf: WharfApp) -> None:
    v = await browser()
    await v.sign_in("admin", ADMIN_PASSWORD)
    hostile = (
        "# Hello\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1))\n\n"
        '<img src=x onerror="alert(2)">\n\n**bold** and `code`'
    )
    r = await v.submit(
        "/new/", "/new/", namespace="admin", name="web-made", visibility="private", description=hostile
    )
    assert r.status_code == 303 and r.headers["location"] == "/repository/admin/web-made"
    repo = await wharf.rt.db.read(repositories.get, "admin", "web-made")
    assert repo is not None and repo.visibility == "private"

    page = (await v.get("/repository/admin/web-made")).text
    assert "<h1>Hello</h1>" in page and "<strong>bold</strong>" in page
    assert "<script>alert" not in page
    assert not re.search(r"href=[\"']?javascript", page)
    assert not re.search(r"<img[^>]*onerror", page)

    again = await v.submit("/new/", "/new/", namespace="admin", name="web-made", visibility="private")
    assert again.status_code == 409 and "already exists" in again.text
    bad = await v.submit("/new/", "/new/", namespace="admin", name="Bad Name", visibility="private")
    assert bad.status_code == 422 and "not a valid name" in bad.text
    theirs = await v.submit("/new/", "/new/", namespace="someone-else", name="x", visibility="private")
    assert theirs.status_code == 403


async def test_private_repositories_are_hidden(browser: Open, world: World) -> None:
    anonymous, outsider, reader = await browser(), await browser(), await browser()
    await outsider.sign_in("outsider", PW)
    await reader.sign_in("reader", PW)

    r = await anonymous.get("/repository/acme/app")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?redirect_url=")
    r = await outsider.get("/repository/acme/app?tab=tags")
    assert r.status_code == 404 and "was not found" in r.text
    r = await reader.get("/repository/acme/app?tab=tags")
    assert r.status_code == 200 and "your role: read" in r.text

    assert "acme/app" not in (await outsider.get("/")).text
    assert "acme/app" not in (await outsider.get("/?q=acme")).text
    assert "acme/pub" in (await outsider.get("/?q=acme")).text
    assert "acme/app" in (await reader.get("/")).text


async def test_pages_carry_security_headers(browser: Open) -> None:
    r = await (await browser()).get("/signin")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "httponly" in r.headers["set-cookie"].lower()


async def test_unknown_page_and_bad_form(browser: Open) -> None:
    v = await browser()
    r = await v.get("/no/such/page")
    assert r.status_code == 404 and "<h1>" in r.text
    form = await v.form("/signin", "/signin")
    r = await v.http.post(
        "/signin", content=b"x" * (600 * 1024), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    r = await v.http.post(
        "/signin", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 400
    assert form.fields["_csrf_token"]


async def test_star_a_repository_and_find_it_on_the_home_page(browser: Open, world: World) -> None:
    v = await browser()
    await v.sign_in("reader", PW)
    none_yet = "You have not starred any repository"
    assert none_yet in (await v.get("/?show=starred")).text
    r = await v.submit("/repository/acme/pub", "/repository/acme/pub/star")
    assert r.status_code == 303
    page = (await v.get("/repository/acme/pub")).text
    assert "★ Starred" in page and "Starred acme/pub" in page
    starred = (await v.get("/?show=starred")).text
    assert "<h1>Starred repositories</h1>" in starred and 'href="/repository/acme/pub"' in starred
    assert 'href="/repository/acme/app"' not in starred and "1 repository" in starred
    r = await v.submit("/repository/acme/pub", "/repository/acme/pub/star")
    assert none_yet in (await v.get("/?show=starred")).text
    # a repository the visitor cannot see cannot be starred either
    outsider = await browser()
    await outsider.sign_in("outsider", PW)
    token = (await outsider.form("/", "/signout")).fields["_csrf_token"]
    r = await outsider.http.post("/repository/acme/app/star", data={"_csrf_token": token, "starred": "true"})
    assert r.status_code == 404
