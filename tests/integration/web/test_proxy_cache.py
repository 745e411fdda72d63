"""The proxy-cache form on an organization's Settings tab: validate, save, remove, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.distribution import Distribution, require_distribution
from tests.integration.web.test_form_errors import refused
from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.config import Settings
from wharf.core import proxy_cache

PAGE = "/organization/webcache?tab=settings"
ACTION = "/organization/webcache/proxycache"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"FEATURE_PROXY_CACHE": True, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]})


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Distribution]:
    require_distribution()
    server = Distribution(tmp_path / "upstream")
    server.start()
    yield server
    server.stop()


async def _post(v: Visitor, button: str, **values: str) -> httpx.Response:
    """Submit the proxy-cache form with the button `button` (save, validate, remove)."""
    form = await v.form(PAGE, ACTION)
    return await v.http.post(ACTION, data={**form.fields, **values, "action": button})


def _flash(r: httpx.Response) -> str:
    return unquote(r.cookies.get("wharf_flash") or "")


async def test_an_admin_validates_saves_and_removes_a_proxy_cache(
    admin: Visitor, wharf: WharfApp, upstream: Distribution
) -> None:
    r = await admin.submit("/organizations/new/", "/organizations/new/", name="webcache")
    assert r.status_code == 303, r.text
    page = await admin.get(PAGE)
    assert "Proxy cache" in page.text

    r = await _post(admin, button="save", upstream_registry="https://example.com")
    assert "http://" in refused(r, "upstream_registry").message

    r = await _post(admin, button="validate", upstream_registry=upstream.host, insecure="on")
    assert r.status_code == 303, r.text
    assert "logged in" in _flash(r)

    r = await _post(admin, button="validate", upstream_registry="169.254.169.254", insecure="on")
    assert "SSRF_ALLOWED_HOSTS" in refused(r, "upstream_registry").message

    r = await _post(admin, button="save", upstream_registry=upstream.host, insecure="on", expiration_s="3600")
    assert r.status_code == 303, r.text
    page = await admin.get(PAGE)
    assert f"is a proxy cache of <code>{upstream.host}</code>" in page.text
    assert "1 hour" in page.text or "3600" in page.text
    rt = wharf.rt
    found = await rt.db.read(proxy_cache.for_namespace, "webcache")
    assert found is not None and found.expiration_s == 3600 and found.insecure

    r = await _post(admin, button="remove")
    assert r.status_code == 303
    assert await rt.db.read(proxy_cache.for_namespace, "webcache") is None
    assert 'name="upstream_registry"' in (await admin.get(PAGE)).text


async def test_an_organization_is_created_as_a_proxy_cache_after_validating_its_upstream(
    admin: Visitor, wharf: WharfApp, upstream: Distribution
) -> None:
    new = "/organizations/new/"
    page = await admin.get(new)
    assert "Proxy cache (optional)" in page.text and 'value="validate"' in page.text

    form = await admin.form(new, new)
    data = {**form.fields, "action": "validate", "upstream_registry": upstream.host, "insecure": "on"}
    r = await admin.http.post(new, data=data)
    assert r.status_code == 200, r.text
    assert "logged in" in r.text and "Nothing was saved yet" in r.text
    assert f'value="{upstream.host}"' in r.text  # the form comes back as it was typed
    assert await wharf.rt.db.read(proxy_cache.for_namespace, "madecache") is None

    # a wrong upstream refuses the whole form: no organization is left behind
    r = await admin.submit(new, new, name="madecache", proxy_cache="on", upstream_registry="http://x")
    assert "http://" in refused(r, "upstream_registry").message
    assert 'name="name"' in r.text and "madecache" in r.text

    r = await admin.submit(
        new, new, name="madecache", proxy_cache="on", upstream_registry=upstream.host, insecure="on"
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/organization/madecache?tab=settings"
    found = await wharf.rt.db.read(proxy_cache.for_namespace, "madecache")
    assert found is not None and found.upstream_registry == upstream.host and found.insecure
    assert "is a proxy cache of" in (await admin.get("/organization/madecache?tab=settings")).text
