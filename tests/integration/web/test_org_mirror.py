"""The Organization mirroring section of an organization's settings: start mirroring from a
Harbor project (tests/harbor.py), refusals, check the connection, a sync and its repository list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.distribution import Distribution, require_distribution
from tests.harbor import Harbor
from tests.integration.web.test_form_errors import refused
from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.config import Settings
from wharf.core import accounts, mirrors, repositories, robots
from wharf.db.engine import Db
from wharf.services import org_mirroring

PAGE = "/organization/webmirror?tab=settings"
ACTION = "/organization/webmirror/mirror"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"FEATURE_ORG_MIRROR": True, "FEATURE_REPO_MIRROR": True, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]}
    )


@pytest.fixture
def harbor(tmp_path: Path) -> Iterator[Harbor]:
    require_distribution()
    registry = Distribution(tmp_path / "upstream")
    registry.start()
    server = Harbor(registry, "proj", "u", "p")
    server.start()
    yield server
    server.stop()
    registry.stop()


async def _post(v: Visitor, button: str, **values: str) -> httpx.Response:
    form = await v.form(PAGE, ACTION)
    return await v.http.post(ACTION, data={**form.fields, **values, "action": button})


def _flash(r: httpx.Response) -> str:
    return unquote(r.cookies.get("wharf_flash") or "")


async def test_an_admin_mirrors_a_harbor_project(admin: Visitor, wharf: WharfApp, harbor: Harbor) -> None:
    rt = wharf.rt
    harbor.registry.push_image("proj/web", "v1")
    r = await admin.submit("/organizations/new/", "/organizations/new/", name="webmirror")
    assert r.status_code == 303, r.text

    def robot(db: Db) -> None:
        org = accounts.get_by_name(db, "webmirror")
        assert org is not None
        robots.create(db, rt.secrets, org, "mirror", actor=None)

    await rt.db.write(robot)
    page = await admin.get(PAGE)
    assert "Organization mirroring" in page.text

    fields = {
        "external_registry_type": "harbor",
        "external_registry_url": harbor.url,
        "external_namespace": "proj",
        "robot_username": "webmirror+mirror",
        "username": "u",
        "password": "p",
        "sync_interval": "3600",
        "is_enabled": "on",
    }
    r = await _post(admin, "save", **{**fields, "external_registry_url": "harbor.example.com/x"})
    assert "external_registry_url" in refused(r, "external_registry_url").message
    r = await _post(admin, "save", **{**fields, "robot_username": "webmirror+nobody"})
    assert "robot" in refused(r, "robot_username").message

    r = await _post(admin, "save", **fields, https_proxy="ftp://proxy.example.com")
    assert "not a proxy" in refused(r, "https_proxy").message
    r = await _post(admin, "save", **fields, http_proxy="http://10.1.2.3:3128")
    assert "SSRF_ALLOWED_HOSTS" in refused(r, "http_proxy").message

    r = await _post(admin, "save", **fields)
    assert r.status_code == 303, r.text
    r = await _post(admin, "verify")
    assert r.status_code == 303 and "Connected" in _flash(r), r.text

    org = await rt.db.read(accounts.get_by_name, "webmirror")
    assert org is not None
    outcome = await org_mirroring.sync(rt, org.id)
    assert outcome is not None and outcome.mirrored == ["web"], outcome
    repo = await rt.db.read(repositories.get, "webmirror", "web")
    assert repo is not None and repo.state == repositories.ORG_MIRROR

    page = await admin.get(PAGE)
    assert "SYNC_SUCCESS" in page.text and 'href="/repository/webmirror/web"' in page.text

    # the repository's own Mirroring section sends to the organization's, offering no form
    page = await admin.get("/repository/webmirror/web?tab=settings")
    assert 'href="/organization/webmirror?tab=settings#org-mirroring"' in page.text, page.text
    assert "Mirrors <code>127.0.0.1:" in page.text and 'name="external_reference"' not in page.text
    assert 'name="https_proxy"' not in page.text and 'name="robot_username"' not in page.text
    settings_page = "/repository/webmirror/web?tab=settings"
    base = "/repository/webmirror/web/settings/"
    form = await admin.form(settings_page, base + "mirror-sync-now")
    r = await admin.http.post(base + "mirror", data={**form.fields, "external_reference": "quay.io/a/b"})
    assert r.status_code == 303 and "managed by the organization" in _flash(r), r.text
    mirror = await rt.db.read(mirrors.require, repo.id)
    assert mirror.external_reference.endswith("/proj/web")

    # a proxy reaches the repositories' mirrors and is shown
    r = await _post(admin, "save", **fields, https_proxy="http://93.184.216.34:3128", no_proxy="127.0.0.1")
    assert r.status_code == 303, r.text
    mirror = await rt.db.read(mirrors.require, repo.id)
    assert mirrors.proxies(mirror.external_registry_config) == (
        None,
        "http://93.184.216.34:3128",
        ("127.0.0.1",),
    )
    page = await admin.get(PAGE)
    assert "http://93.184.216.34:3128 for https:// upstreams, except to 127.0.0.1" in page.text

    r = await _post(admin, "sync-now")
    assert r.status_code == 303 and "queued" in _flash(r)
    r = await _post(admin, "cancel")
    assert r.status_code == 303 and "cancelled" in _flash(r)
