"""The Mirroring section of a repository's settings: start mirroring, refusals, sync now."""

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
from wharf.core import mirrors, provision, repositories
from wharf.services import mirroring

PAGE = "/repository/admin/mirrored?tab=settings"
BASE = "/repository/admin/mirrored/settings/"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"FEATURE_REPO_MIRROR": True, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]})


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Distribution]:
    require_distribution()
    server = Distribution(tmp_path / "upstream")
    server.start()
    yield server
    server.stop()


def _flash(r: httpx.Response) -> str:
    return unquote(r.cookies.get("wharf_flash") or "")


async def test_an_admin_starts_mirroring_and_syncs_now(
    admin: Visitor, wharf: WharfApp, upstream: Distribution
) -> None:
    rt = wharf.rt
    await rt.db.write(
        provision.create_repository, "admin", "mirrored", visibility="private", creator_id=None, actor=None
    )
    upstream.push_image("proj/app", "v1")
    page = await admin.get(PAGE)
    assert "Mirroring" in page.text

    r = await admin.submit(PAGE, BASE + "mirror", external_reference="https://example.com/a", tags="v*")
    assert "external_reference" in refused(r, "external_reference").message

    r = await admin.submit(PAGE, BASE + "mirror", external_reference="169.254.169.254/a/b", tags="v*")
    assert "SSRF_ALLOWED_HOSTS" in refused(r, "external_reference").message

    good = {"external_reference": f"{upstream.host}/proj/app", "tags": "v*"}
    r = await admin.submit(PAGE, BASE + "mirror", **good, skopeo_timeout_interval="soon")
    assert "whole number" in refused(r, "skopeo_timeout_interval").message
    r = await admin.submit(PAGE, BASE + "mirror", **good, skopeo_timeout_interval="0")
    assert "less than 300" in refused(r, "skopeo_timeout_interval").message

    r = await admin.submit(
        PAGE, BASE + "mirror", **good, verify_tls="", arch_amd64="on", skopeo_timeout_interval="600"
    )
    assert r.status_code == 303, r.text
    assert "mirror" in _flash(r)
    repo = await rt.db.read(repositories.get, "admin", "mirrored")
    assert repo is not None and repo.state == repositories.MIRROR
    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.copied == ["v1"], outcome

    page = await admin.get(PAGE)
    assert "SYNC_SUCCESS" in page.text and "1 of 1 tags" in page.text
    # the bytes copied, and the architecture filter (the upstream image is amd64)
    mirror = await rt.db.read(mirrors.require, repo.id)
    assert mirror.architecture_filter == ["amd64"] and mirror.skopeo_timeout_interval == 600
    assert "KiB copied" in page.text and "Only the images for amd64" in page.text
    r = await admin.submit(PAGE, BASE + "mirror-sync-now")
    assert r.status_code == 303
    assert (await rt.db.read(mirrors.require, repo.id)).sync_status == mirrors.SYNC_NOW

    # proxies: refused as the API refuses them, next to their field; shown once saved
    r = await admin.submit(PAGE, BASE + "mirror", https_proxy="ftp://proxy.example.com:21")
    assert "not a proxy" in refused(r, "https_proxy").message
    r = await admin.submit(PAGE, BASE + "mirror", http_proxy="http://10.1.2.3:3128")
    assert "SSRF_ALLOWED_HOSTS" in refused(r, "http_proxy").message
    proxy = "http://user:secret@93.184.216.34:3128"
    r = await admin.submit(PAGE, BASE + "mirror", http_proxy=proxy, no_proxy="registry.internal")
    assert r.status_code == 303, r.text
    mirror = await rt.db.read(mirrors.require, repo.id)
    # stored as shown, the password sealed
    shown = "http://user:********@93.184.216.34:3128"
    assert mirror.external_registry_config["proxy"] == {"http_proxy": shown, "no_proxy": "registry.internal"}
    assert mirror.outbound_config(rt.secrets)["proxy"]["http_proxy"] == proxy
    assert mirror.external_registry_config["verify_tls"] is False  # the box stayed unticked
    page = await admin.get(PAGE)
    # the proxy's password is in neither the description nor the form; the form saved as shown
    # keeps it
    assert f"{shown} for http:// upstreams" in page.text and f'value="{shown}"' in page.text
    assert "except to registry.internal" in page.text and "secret" not in page.text
    r = await admin.submit(PAGE, BASE + "mirror", no_proxy="registry.internal, 10.0.0.0/8")
    assert r.status_code == 303, r.text
    mirror = await rt.db.read(mirrors.require, repo.id)
    assert mirror.outbound_config(rt.secrets)["proxy"]["http_proxy"] == proxy
    r = await admin.submit(PAGE, BASE + "mirror", http_proxy="", no_proxy="")
    assert r.status_code == 303, r.text
    assert "proxy" not in (await rt.db.read(mirrors.require, repo.id)).external_registry_config

    # the superuser panel's Mirroring tab: the registry's counts, no repository named
    panel = (await admin.get("/superuser?tab=mirroring")).text
    assert "Healthy" in panel and "1 enabled mirror," in panel and "admin/mirrored" not in panel
