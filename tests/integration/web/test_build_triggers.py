"""The build triggers pages: set up a custom git trigger from the form (a refused configuration
keeps what was typed and leaves no trigger), its page with the deploy key and webhook URL to copy
and the builds a push started, disable, delete."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.core import build_triggers, repositories

SHA = "0123456789abcdef0123456789abcdef01234567"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH3A3QP8fpcMhN18yqYybDObBw/ErBrilrFeJ36dtERo"


async def test_set_up_see_and_remove_a_trigger(admin: Visitor, reg: RegistryClient, wharf: WharfApp) -> None:
    await reg.push_blob("admin/app", b"layer")
    assert "/repository/admin/app/triggers" in (await admin.get("/repository/admin/app?tab=builds")).text
    page, action = "/repository/admin/app/triggers", "/repository/admin/app/triggers/new"
    assert "No build trigger yet" in (await admin.get(page)).text

    r = await admin.submit(page, action, build_source="file:///etc/passwd", dockerfile_path="/app/Dockerfile")
    assert r.status_code == 422
    assert "file:///etc/passwd" in r.text and 'aria-invalid="true"' in r.text
    r = await admin.submit(
        page, action, build_source="git@git.example.com:team/app.git", known_hosts="git.example.com ssh-rsa x"
    )
    assert r.status_code == 422 and "known_hosts: line 1: the ssh-rsa key is not base64" in r.text
    assert "git.example.com ssh-rsa x</textarea>" in r.text
    repo = await wharf.rt.db.read(repositories.get, "admin", "app")
    assert repo is not None
    assert await wharf.rt.db.read(build_triggers.list_for, repo.id) == []

    r = await admin.submit(
        page,
        action,
        build_source="git@git.example.com:team/app.git",
        tag_templates="${commit_info.short_sha}",
        known_hosts=f"git.example.com {KEY}",
    )
    assert r.status_code == 303, r.text
    trigger_page = r.headers["location"]
    html = (await admin.get(trigger_page)).text
    assert "ssh-ed25519 " in html and "/webhooks/push/trigger/" in html
    assert "SSH host keys pinned</dt><dd><code>ssh-ed25519</code>" in html
    (trigger,) = await wharf.rt.db.read(build_triggers.list_for, repo.id)
    assert trigger.config["tag_templates"] == ["${commit_info.short_sha}"]
    assert trigger.config["known_hosts"] == [KEY]

    # A push the git server sends with the URL shown builds; the trigger's page lists it.
    start = html.index("https://$token:") if "https://$token:" in html else html.index("http://$token:")
    url = urlsplit(html[start : html.index("<", start)].replace("&#36;", "$"))
    auth = base64.b64encode(f"{url.username}:{url.password}".encode()).decode()
    body = {"commit": SHA, "ref": "refs/heads/main", "default_branch": "main"}
    r = await admin.http.post(url.path, json=body, headers={"Authorization": f"Basic {auth}"})
    assert r.status_code == 200, r.text
    html = (await admin.get(trigger_page)).text
    assert SHA[:7] in html and "refs/heads/main" in html

    r = await admin.submit(trigger_page, f"{trigger_page.removeprefix('http://registry.test')}/toggle")
    assert r.status_code == 303
    assert "disabled" in (await admin.get(trigger_page)).text
    r = await admin.submit(trigger_page, f"{trigger_page.removeprefix('http://registry.test')}/delete")
    assert r.status_code == 303
    assert await wharf.rt.db.read(build_triggers.list_for, repo.id) == []
    assert (await admin.get(trigger_page)).status_code == 404
