"""What every page shares: the error page (header, banner, a way back), Markdown where users
write it, and the visual system's macros."""

from __future__ import annotations

from starlette.requests import Request

from tests.integration.web_client import Visitor
from tests.integration.world import World
from wharf.app import WharfApp
from wharf.web import render
from wharf.web.app import _server_fault_handler

_BANNER = {
    "message": {"content": "Maintenance **tonight**", "media_type": "text/markdown", "severity": "warning"}
}


async def _banner(world: World) -> None:
    r = await world.reg.http.post("/api/v1/messages", json=_BANNER, headers=world.api["admin"])
    assert r.status_code == 201, r.text


async def test_a_missing_page_keeps_the_header_the_banner_and_a_way_back(
    admin: Visitor, world: World
) -> None:
    await _banner(world)
    r = await admin.get("/repository/nobody/nothing", headers={"referer": "http://registry.test/?q=app"})
    assert r.status_code == 404
    assert '<header class="top">' in r.text and "Sign out" in r.text
    assert 'class="banner warning"' in r.text and "<strong>tonight</strong>" in r.text
    assert 'href="/?q=app"' in r.text and "Back to the previous page" in r.text

    # without a referrer (or from another site), the page above the address
    r = await admin.get(
        f"/repository/nobody/nothing/manifest/sha256:{'0' * 64}",
        headers={"referer": "https://elsewhere.example/"},
    )
    assert r.status_code == 404
    assert 'href="/repository/nobody/nothing"' in r.text and "elsewhere" not in r.text


async def test_an_error_answering_a_form_keeps_the_banner(admin: Visitor, world: World) -> None:
    await _banner(world)
    form = await admin.form("/", "/signout")
    r = await admin.http.post(
        "/repository/nobody/nothing/star",
        data={**form.fields, "starred": "true"},
        headers={"referer": "http://registry.test/"},
    )
    assert r.status_code == 404
    assert 'class="banner warning"' in r.text
    assert '<a href="/" class="button primary" data-back>Back to the form</a>' in r.text


async def test_a_server_fault_is_a_page_with_the_header_and_the_banner(wharf: WharfApp, world: World) -> None:
    await _banner(world)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/organization/acme/teams/x",
        "raw_path": b"/organization/acme/teams/x",
        "query_string": b"",
        "headers": [(b"host", b"registry.test")],
        "scheme": "http",
        "server": ("registry.test", 80),
        "client": ("10.9.8.7", 4444),
        "app": wharf,
    }
    answer = await _server_fault_handler(wharf.rt)(Request(scope), RuntimeError("boom"))
    page = bytes(answer.body).decode()
    assert answer.status_code == 500
    assert "went wrong on the registry" in page and "boom" not in page
    assert '<header class="top">' in page and 'class="banner warning"' in page
    assert 'href="/organization/acme"' in page


async def test_superuser_messages_list_renders_markdown(admin: Visitor, world: World) -> None:
    await _banner(world)
    page = (await admin.get("/superuser?tab=messages")).text
    listed = page.split('<ul class="inbox">', 1)[1]
    assert "<strong>tonight</strong>" in listed and "**tonight**" not in listed
    assert 'class="badge warning"' in listed


def test_digest_and_severity_macros() -> None:
    digest = "sha256:" + "ab" * 32
    html = render._env.from_string(
        '{% import "_ui.html" as ui %}{{ ui.digest(d) }}|{{ ui.severity("High") }}|{{ ui.severity("odd") }}'
    ).render(d=digest)
    shown, high, odd = html.split("|")
    assert f'data-full="{digest}"' in shown and f">{digest[:19]}</code>" in shown
    assert f'data-copy="{digest}"' in shown and 'aria-label="Copy digest' in shown
    assert 'class="badge sev-high">High<' in high
    assert 'class="badge sev-unknown">odd<' in odd
