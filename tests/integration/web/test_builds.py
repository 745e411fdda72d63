"""The Builds tab (the history, newest first) and a build's page: its facts, its log for writers,
and the hook the page's script follows a running build by; readers see no log."""

from __future__ import annotations

import httpx

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor, forms_of
from tests.integration.world import PW
from wharf.app import WharfApp
from wharf.core import audit, builds, repositories, user_files
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
        # no Start build for readers, and a forged one is refused before anything is stored
        tab = (await reader.get("/repository/admin/app?tab=builds")).text
        assert "Start build" not in tab
        token = next(f.fields["_csrf_token"] for f in forms_of(tab) if "_csrf_token" in f.fields)
        r = await reader.http.post(
            "/repository/admin/app/build/",
            data={"_csrf_token": token},
            files={"file": ("Dockerfile", b"FROM scratch\n")},
        )
        assert r.status_code == 403 and "needs the write role" in r.text
    finally:
        await reader.close()


async def _start(admin: Visitor, content: bytes, **values: str) -> httpx.Response:
    """The Builds tab's "Start build" form, sent as a browser without scripts sends it."""
    action = "/repository/admin/app/build/"
    form = await admin.form("/repository/admin/app?tab=builds", action)
    fields = {k: v for k, v in form.fields.items() if k != "file"}
    files = {"file": ("Dockerfile", content, "application/octet-stream")}
    return await admin.http.post(action, data={**fields, **values}, files=files)


async def test_start_build_uploads_the_file_and_queues_the_build(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.push_blob("admin/app", b"layer")
    r = await _start(admin, b"FROM scratch\n", docker_tags="v1, v2  edge")
    assert r.status_code == 303, r.text
    uuid = r.headers["location"].rsplit("/", 1)[1]
    assert r.headers["location"] == f"/repository/admin/app/build/{uuid}"
    build = await wharf.rt.db.read(builds.get, uuid)
    assert build is not None and build.phase == builds.WAITING and build.resource_key
    assert build.docker_tags == ["v1", "v2", "edge"] and build.dockerfile_path == "Dockerfile"
    stored = b"".join([c async for c in wharf.rt.store.read(user_files.storage_path(build.resource_key))])
    assert stored == b"FROM scratch\n"
    assert build.display_name in (await admin.get(r.headers["location"])).text


async def test_start_build_refuses_with_the_error_next_to_the_field(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.push_blob("admin/app", b"layer")
    r = await _start(admin, b"FROM scratch\n", docker_tags="-bad")
    assert r.status_code == 422
    assert 'id="error-repository-admin-app-build-docker-tags"' in r.text and "is not a valid tag" in r.text
    assert 'value="-bad"' in r.text  # what was typed is kept
    assert "Choose the file again" in r.text  # not the file: no browser keeps it
    r = await _start(admin, b"FROM scratch\n", dockerfile_path="../etc/Dockerfile")
    assert r.status_code == 422 and "may not leave the build context" in r.text
    r = await _start(admin, b"FROM scratch\n", pull_robot="admin+nobody")
    assert r.status_code == 422 and 'id="error-repository-admin-app-build-pull-robot"' in r.text
    form = await admin.form("/repository/admin/app?tab=builds", "/repository/admin/app/build/")
    r = await admin.http.post("/repository/admin/app/build/", data=form.fields, files={"other": b"x"})
    assert r.status_code == 422 and "Choose a Dockerfile" in r.text
    r = await admin.http.post(
        "/repository/admin/app/build/", data={"_csrf_token": "forged"}, files={"file": ("Dockerfile", b"x")}
    )
    assert r.status_code == 403
    repo = await wharf.rt.db.read(repositories.get, "admin", "app")
    assert repo is not None
    assert await wharf.rt.db.read(builds.list_for, repo.id, 10) == []
