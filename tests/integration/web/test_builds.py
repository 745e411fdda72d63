"""The Builds tab (the history, newest first) and a build's page: its facts, its log for writers,
and the hook the page's script follows a running build by; readers see no log."""

from __future__ import annotations

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW
from wharf.app import WharfApp
from wharf.core import audit, builds, repositories
from wharf.core.builds import BuildRecord, BuildRequest


async def _build(wharf: WharfApp, name: str) -> BuildRecord:
    repo = await wharf.rt.db.read(repositories.get, "admin", "app")
    assert repo is not None
    request = BuildRequest(name, ["v1"], "Dockerfile", "", "", archive_url="https://example.com/a.tar.gz")
    return await wharf.rt.db.write(builds.create, repo, request, audit.Actor(1, "admin"))


async def test_the_builds_tab_and_a_build_page(admin: Visitor, reg: RegistryClient, wharf: WharfApp) -> None:
    await reg.push_blob("admin/app", b"layer")
    assert "No build of this repository yet" in (await admin.get("/repository/admin/app?tab=builds")).text
    first = await _build(wharf, "aaaaaaa")
    running = await _build(wharf, "bbbbbbb")
    await wharf.rt.db.write(builds.start, first.id, None)
    await wharf.rt.db.write(
        builds.append_logs, first.id, [("command", "buildah bud <x>", None), ("", "STEP 1/2", None)]
    )
    await wharf.rt.db.write(builds.finish, first.id, builds.ERROR, error="buildah bud exited with status 1")

    html = (await admin.get("/repository/admin/app?tab=builds")).text
    assert 'aria-current="page" class="current">Builds<' in html
    assert html.index("bbbbbbb") < html.index("aaaaaaa")  # newest first
    assert "buildah bud exited with status 1" in html

    page = (await admin.get(f"/repository/admin/app/build/{first.uuid}")).text
    assert "buildah bud &lt;x&gt;" in page  # escaped
    assert 'class="log-command"' in page and '<li class="log-output">STEP 1/2</li>' in page
    assert 'class="log-phase">error<' in page
    assert "data-build-log" not in page  # finished: nothing to follow
    page = (await admin.get(f"/repository/admin/app/build/{running.uuid}")).text
    assert f'data-build-log="/api/v1/repository/admin/app/build/{running.uuid}" data-start="1"' in page

    assert (await admin.get("/repository/admin/app/build/no-such-build")).status_code == 404


async def test_readers_see_the_build_but_not_its_log(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.push_blob("admin/app", b"layer")
    await reg.create_user("reader", PW)
    repo = await wharf.rt.db.read(repositories.get, "admin", "app")
    assert repo is not None
    await wharf.rt.db.write(repositories.set_visibility, repo, "public", None)
    build = await _build(wharf, "ccccccc")
    reader = Visitor(wharf)
    await reader.sign_in("reader", PW)
    try:
        page = await reader.get(f"/repository/admin/app/build/{build.uuid}")
        assert page.status_code == 200
        assert (
            "ccccccc" in page.text and "needs write access" in page.text and "data-build-log" not in page.text
        )
    finally:
        await reader.close()
