"""Real builds: a `wharf serve` and a `wharf builder` on the same database and storage, buildah
building, skopeo pulling base images from Wharf and pushing the result back to it. A Dockerfile
upload FROM an image pushed to Wharf first; a multi-stage Dockerfile in an archive's
subdirectory; a failing build and its log; a cancelled build; a build past BUILD_TIMEOUT; an
archive that tries to leave its context."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, serious_violations, sign_in
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    SERVER_KIND,
    Clients,
    Server,
    Worker,
    admin_api,
    require_tools,
    wharf_cli,
    wharf_env,
)
from tests.receivers import http_receiver
from tests.server import WHARF
from tests.waiting import wait_until

require_tools("buildah", "skopeo")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(SERVER_KIND != "wharf", reason="builds are Wharf's, not distribution's"),
]

TERMINAL = {
    "complete",
    "error",
    "cancelled",
    "expired",
}  # internalerror: a builder died, another runs it again


@pytest.fixture
def builder_settings() -> dict[str, str]:
    return {}


@pytest.fixture
def builder(server: Server, builder_settings: dict[str, str]) -> Iterator[Worker]:
    """A `wharf builder` on the server's data dir (its SQLite database and blob store, or the
    same PostgreSQL), pushing to the server's /v2."""
    env = {"WHARF_BUILDER_REGISTRY": server.url, **builder_settings}
    proc = Worker(server.workdir, server.db_uri, env, name="builder", command="builder")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        print(f"--- builder log ---\n{proc.log_tail()}")


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with admin_api(server) as client:
        yield client


@pytest.fixture
def base(server: Server, clients: Clients, images: BuiltImages) -> str:
    """busybox, pushed to the server as admin/base:latest: the builds' FROM."""
    ref = f"{server.host}/admin/base:latest"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        str(server.creds),
        images.busybox_oci,
        f"docker://{ref}",
    )
    return ref


def _upload(api: httpx.Client, data: bytes) -> str:
    r = api.post("/filedrop/", json={"mimeType": "application/octet-stream"})
    assert r.status_code == 200, r.text
    drop = r.json()
    r = httpx.put(
        drop["url"], content=data, headers={"Authorization": api.headers["Authorization"]}, timeout=30
    )
    assert r.status_code == 204, r.text
    return str(drop["file_id"])


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _build(api: httpx.Client, repo: str, **body: Any) -> dict[str, Any]:
    """Request a build of `repo`, created first if need be (Quay builds existing repositories)."""
    namespace, name = repo.split("/")
    if api.get(f"/repository/{repo}").status_code == 404:
        created = {"namespace": namespace, "repository": name, "visibility": "private", "description": ""}
        assert api.post("/repository", json=created).status_code == 201
    r = api.post(f"/repository/{repo}/build/", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _status(api: httpx.Client, repo: str, build_id: str) -> dict[str, Any]:
    r = api.get(f"/repository/{repo}/build/{build_id}/status")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _finished(api: httpx.Client, repo: str, build_id: str, timeout_s: float = 300) -> dict[str, Any]:
    wait_until(
        lambda: _status(api, repo, build_id)["phase"] in TERMINAL,
        f"build {build_id} to finish",
        timeout_s=timeout_s,
    )
    return _status(api, repo, build_id)


def _log(api: httpx.Client, repo: str, build_id: str) -> list[dict[str, Any]]:
    """The whole log, read as Quay's UI does: from `start`, until no more comes."""
    entries: list[dict[str, Any]] = []
    while True:
        r = api.get(f"/repository/{repo}/build/{build_id}/logs", params={"start": len(entries)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["start"] == len(entries)
        entries += body["logs"]
        if len(entries) >= body["total"]:
            return entries


def _messages(log: list[dict[str, Any]]) -> str:
    return "\n".join(e["message"] for e in log)


def test_a_dockerfile_upload_builds_from_wharf_and_pushes_every_tag(
    server: Server, builder: Worker, api: httpx.Client, base: str, clients: Clients
) -> None:
    dockerfile = f"FROM {base}\nRUN echo built-by-wharf > /built.txt\n".encode()
    file_id = _upload(api, dockerfile)
    build = _build(api, "admin/built", file_id=file_id, docker_tags=["v1", "latest"])
    done = _finished(api, "admin/built", build["id"])
    log = _log(api, "admin/built", build["id"])
    assert done["phase"] == "complete", _messages(log)
    phases = [e["message"] for e in log if e.get("type") == "phase"]
    assert phases == ["waiting", "build-scheduled", "unpacking", "pulling", "building", "pushing", "complete"]
    commands = [e["message"] for e in log if e.get("type") == "command"]
    assert any(c.startswith("buildah bud --isolation chroot") for c in commands), commands
    assert any(c.startswith("skopeo copy docker://") for c in commands), commands
    assert "registry-token" not in _messages(log) or "***" in _messages(log)
    # both tags point at the pushed manifest, which the build records
    for tag in ("v1", "latest"):
        digest = clients.skopeo_digest(f"docker://{server.host}/admin/built:{tag}", server.creds)
        assert digest == done["manifest_digest"]
    # the built image holds what RUN wrote
    out = clients.root / "unpacked"
    clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        str(server.creds),
        f"docker://{server.host}/admin/built:v1",
        f"oci:{out}:v1",
    )
    assert (out / "index.json").is_file()
    # the push went through the normal path: the usage log has it, as the requester
    kinds = [e["kind"] for e in api.get("/repository/admin/built/logs").json()["logs"]]
    assert "build_dockerfile" in kinds and "push_repo" in kinds
    # beyond Quay: an SBOM and a signed SLSA provenance are referrers of the pushed image, the
    # provenance verifies with the published key and names the base image by its digest
    _check_attestations(
        server, done["manifest_digest"], clients.skopeo_digest(f"docker://{base}", server.creds)
    )
    # the working directory is gone
    work = server.data_dir / "builder" / "work"
    assert not any(work.iterdir())


def _check_attestations(server: Server, digest: str, base_digest: str) -> None:
    headers = server.auth_headers("repository:admin/built:pull")
    r = httpx.get(f"{server.url}/v2/admin/built/referrers/{digest}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    kinds = sorted(m["artifactType"] for m in r.json()["manifests"])
    assert kinds == ["application/vnd.cyclonedx+json", "application/vnd.dev.sigstore.bundle.v0.3+json"]
    key = httpx.get(f"{server.url}/build-signing-key.pub", timeout=30)
    assert key.status_code == 200 and "BEGIN PUBLIC KEY" in key.text
    (server.workdir / "build.pub").write_text(key.text)
    verified = json.loads(
        wharf_cli(
            "builds",
            "verify",
            f"admin/built@{digest}",
            "--key",
            str(server.workdir / "build.pub"),
            "--json",
            "--data-dir",
            str(server.data_dir),
            db_uri=server.db_uri,
        )
    )
    assert verified["verified"] is True
    definition = verified["statement"]["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["tags"] == ["v1", "latest"]
    bases = [d for d in definition["resolvedDependencies"] if d.get("uri", "").startswith("docker://")]
    assert bases == [
        {
            "uri": f"docker://{server.host}/admin/base:latest",
            "digest": {"sha256": base_digest.removeprefix("sha256:")},
        }
    ]


def test_a_multi_stage_build_from_an_archive_subdirectory(
    server: Server, builder: Worker, api: httpx.Client, base: str, clients: Clients
) -> None:
    dockerfile = (
        f"FROM {base} AS stage\n"
        "RUN echo from-the-first-stage > /stage.txt\n"
        f"FROM {base}\n"
        "COPY --from=stage /stage.txt /stage.txt\n"
        "COPY extra.txt /extra.txt\n"
    ).encode()
    archive = _tar(
        {"ignored/Dockerfile": b"FROM scratch\n", "app/Dockerfile": dockerfile, "app/extra.txt": b"extra\n"}
    )
    build = _build(api, "admin/multi", file_id=_upload(api, archive), subdirectory="app")
    done = _finished(api, "admin/multi", build["id"])
    assert done["phase"] == "complete", _messages(_log(api, "admin/multi", build["id"]))
    config = clients.skopeo_inspect(f"docker://{server.host}/admin/multi:latest", server.creds)
    assert len(config["Layers"]) == 2  # busybox, then the build's own (buildah bud without --layers)


def test_a_failing_build_and_a_refused_archive_say_why(
    server: Server, builder: Worker, api: httpx.Client, base: str
) -> None:
    file_id = _upload(api, f"FROM {base}\nRUN echo about-to-fail && false\n".encode())
    build = _build(api, "admin/failing", file_id=file_id)
    done = _finished(api, "admin/failing", build["id"])
    assert done["phase"] == "error"
    assert "buildah bud exited with status" in done["error"]
    log = _log(api, "admin/failing", build["id"])
    assert "about-to-fail" in _messages(log)
    assert log[-2]["type"] == "error" and log[-1] == {
        "message": "error",
        "type": "phase",
        "data": log[-1]["data"],
    }

    escape = _tar({"Dockerfile": b"FROM scratch\n", "../../escape": b"x"})
    build = _build(api, "admin/failing", file_id=_upload(api, escape))
    done = _finished(api, "admin/failing", build["id"])
    assert done["phase"] == "error" and "leaves the build context" in done["error"]
    assert not (server.workdir.parent / "escape").exists()

    # another registry's base image on an internal address: refused before skopeo goes there
    metadata = _upload(api, b"FROM 169.254.169.254/latest/meta-data:1\n")
    build = _build(api, "admin/failing", file_id=metadata)
    done = _finished(api, "admin/failing", build["id"])
    assert done["phase"] == "error" and "Cannot pull 169.254.169.254/" in done["error"], done["error"]


def test_a_running_build_is_cancelled(server: Server, builder: Worker, api: httpx.Client, base: str) -> None:
    file_id = _upload(api, f"FROM {base}\nRUN echo sleeping && sleep 600\n".encode())
    build = _build(api, "admin/slow", file_id=file_id)
    wait_until(
        lambda: "sleeping" in _messages(_log(api, "admin/slow", build["id"])),
        "the build to run",
        timeout_s=300,
    )
    r = api.delete(f"/repository/admin/slow/build/{build['id']}")
    assert r.status_code == 201, r.text
    done = _finished(api, "admin/slow", build["id"], timeout_s=120)
    assert done["phase"] == "cancelled"
    assert api.get("/repository/admin/slow/tag/").json()["tags"] == []


# A few seconds: the build cannot finish in any time (its RUN step sleeps for ten minutes), so
# the test waits for the build's state, and a longer timeout would only be waited out.
@pytest.mark.parametrize("builder_settings", [{"WHARF_BUILD_TIMEOUT": "3"}])
def test_a_build_past_its_timeout_is_stopped(
    server: Server, builder: Worker, api: httpx.Client, base: str
) -> None:
    file_id = _upload(api, f"FROM {base}\nRUN sleep 600\n".encode())
    build = _build(api, "admin/forever", file_id=file_id)
    done = _finished(api, "admin/forever", build["id"])
    assert done["phase"] == "error"
    assert done["error"] == "The build took longer than 3 seconds"


@pytest.mark.parametrize(
    "builder_settings", [{}, {"WHARF_BUILD_NETWORK": "host"}], ids=["network-none", "network-host"]
)
def test_a_build_reaches_the_host_only_when_the_admin_allows_it(
    server: Server, builder: Worker, api: httpx.Client, base: str, builder_settings: dict[str, str]
) -> None:
    """Security (issue 20): a RUN step connecting to a service on the builder's host, by default
    in vain (the build has only a loopback of its own); with BUILD_NETWORK host, it gets there."""
    allowed = builder_settings.get("WHARF_BUILD_NETWORK") == "host"
    with http_receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        request = "printf 'GET /from-the-build HTTP/1.0\\r\\n\\r\\n'"
        dockerfile = (
            f"FROM {base}\nRUN {request} | nc -w 10 127.0.0.1 {port} && echo && echo reached-the-host\n"
        )
        build = _build(api, "admin/network", file_id=_upload(api, dockerfile.encode()))
        done = _finished(api, "admin/network", build["id"])
        log = _messages(_log(api, "admin/network", build["id"]))
        if allowed:
            assert done["phase"] == "complete", log
            assert [r.path for r in receiver.requests] == ["/from-the-build"]
            assert "reached-the-host" in log.splitlines() and "no network" not in log
        else:
            assert done["phase"] == "error", log
            assert "RUN steps have no network (BUILD_NETWORK: none)" in log
            # its own loopback is up, with nobody listening on it
            assert "Connection refused" in log and "reached-the-host" not in log.splitlines()
            assert receiver.requests == []


def test_builder_help_and_refusals(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(WHARF), "builder", "--help"], capture_output=True, text=True, env=wharf_env(), timeout=60
    )
    assert out.returncode == 0 and "BUILDER_CONCURRENCY" in out.stdout
    env = wharf_env(settings_env={"WHARF_FEATURE_BUILD_SUPPORT": "false"})
    off = subprocess.run(
        [str(WHARF), "builder", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert off.returncode == 1 and "FEATURE_BUILD_SUPPORT is off" in off.stderr
    # builds without network are promised by default: a builder that cannot make a network
    # namespace (here: no unshare on PATH) does not start, rather than build on the host's network
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("buildah", "skopeo"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    no_unshare = subprocess.run(
        [str(WHARF), "builder", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**wharf_env(), "PATH": str(tools)},
        timeout=60,
    )
    assert no_unshare.returncode == 1 and "BUILD_NETWORK: none" in no_unshare.stderr, no_unshare.stderr


def test_the_build_page_follows_the_log_in_a_browser(
    server: Server, builder: Worker, api: httpx.Client, base: str, browser: Browser
) -> None:
    file_id = _upload(api, f"FROM {base}\nRUN echo sleeping-now && sleep 600\n".encode())
    build = _build(api, "admin/followed", file_id=file_id)
    # bypass_csp: only for axe, which the test injects (the page's own script is /static/wharf.js)
    page = browser.new_context(bypass_csp=True).new_page()
    sign_in(page, server, ADMIN_USER, ADMIN_PASSWORD)
    page.goto(f"{server.url}/repository/admin/followed/build/{build['id']}")
    shot = Shots(page, "build_page")
    log = page.locator("ol.build-log")
    # the page was rendered before the build ran: what follows comes from the polls
    expect(log).to_contain_text("sleeping-now", timeout=300_000)
    expect(page.locator("[data-build-phase]")).to_have_text("building")
    shot("running")
    assert serious_violations(page) == []
    assert api.delete(f"/repository/admin/followed/build/{build['id']}").status_code == 201
    expect(page.locator("[data-build-following]")).to_have_text(
        "The build has finished: cancelled.", timeout=120_000
    )
    expect(log.locator("li.log-error")).to_have_text("The build was cancelled")
    shot("cancelled")
    page.goto(f"{server.url}/repository/admin/followed?tab=builds")
    expect(page.locator("table.builds")).to_contain_text("cancelled")
    assert serious_violations(page) == []
    shot("builds_tab")


def test_start_build_from_the_builds_tab_in_a_browser(
    server: Server, builder: Worker, api: httpx.Client, base: str, browser: Browser, tmp_path: Path
) -> None:
    created = {"namespace": "admin", "repository": "webbuilt", "visibility": "private", "description": ""}
    assert api.post("/repository", json=created).status_code == 201
    archive = tmp_path / "context.tar.gz"
    archive.write_bytes(
        _tar({"app/Dockerfile": f"FROM {base}\nCOPY hello.txt /\n".encode(), "app/hello.txt": b"hi"})
    )
    page = browser.new_context(bypass_csp=True).new_page()
    sign_in(page, server, ADMIN_USER, ADMIN_PASSWORD)
    page.goto(f"{server.url}/repository/admin/webbuilt?tab=builds")
    form = page.locator("details.start-build form")
    # a wrong tag is refused next to its field, with what was typed kept
    form.get_by_label("Dockerfile or archive").set_input_files(str(archive))
    form.get_by_label("Tags").fill("v1 -bad")
    form.get_by_role("button", name="Start build").click()
    expect(page.locator(".field-error")).to_contain_text("is not a valid tag")
    expect(page.get_by_label("Tags")).to_have_value("v1 -bad")
    shot = Shots(page, "start_build")
    shot("refused")
    assert serious_violations(page) == []
    form = page.locator("details.start-build form")
    form.get_by_label("Dockerfile or archive").set_input_files(str(archive))
    form.get_by_label("Tags").fill("v1 v2")
    form.get_by_label("Dockerfile path").fill("app/Dockerfile")
    form.get_by_role("button", name="Start build").click()
    expect(page.locator("[data-build-phase]")).to_be_visible()
    builds = api.get("/repository/admin/webbuilt/build/").json()["builds"]
    assert [b["tags"] for b in builds] == [["v1", "v2"]]
    assert page.url == f"{server.url}/repository/admin/webbuilt/build/{builds[0]['id']}"
    assert _finished(api, "admin/webbuilt", builds[0]["id"])["phase"] == "complete"
    page.reload()
    expect(page.locator("[data-build-phase]")).to_have_text("complete")
    shot("complete")


_SHORT_LEASE = {"WHARF_BUILDER_LEASE_S": "3", "WHARF_BUILD_MAX_ATTEMPTS": "2"}


@pytest.mark.parametrize("server_settings", [_SHORT_LEASE])
@pytest.mark.parametrize("builder_settings", [_SHORT_LEASE])
def test_a_build_whose_builder_is_killed_runs_again_then_expires(
    server: Server, builder: Worker, api: httpx.Client, base: str
) -> None:
    file_id = _upload(api, f"FROM {base}\nRUN echo running-now && sleep 30\n".encode())
    build = _build(api, "admin/orphan", file_id=file_id)

    def _running(times: int) -> bool:
        # the RUN step's output line (its STEP line names it too)
        return [e["message"] for e in _log(api, "admin/orphan", build["id"])].count("running-now") >= times

    wait_until(lambda: _running(1), "the first run to reach its RUN step", timeout_s=300)
    builder.kill()  # SIGKILL: nothing of the builder finishes the build
    # the server notices the lapsed lease: internalerror, to run again (not `building` for ever)
    wait_until(
        lambda: _status(api, "admin/orphan", build["id"])["phase"] == "internalerror",
        "the build to be marked internalerror",
        timeout_s=60,
    )
    env = {"WHARF_BUILDER_REGISTRY": server.url, **_SHORT_LEASE}
    second = Worker(server.workdir, server.db_uri, env, name="builder2", command="builder")
    second.start()
    try:
        wait_until(lambda: _running(2), "the second run to reach its RUN step", timeout_s=300)
        second.kill()
    finally:
        second.stop()
        print(f"--- second builder log ---\n{second.log_tail()}")
    done = _finished(api, "admin/orphan", build["id"], timeout_s=60)
    assert done["phase"] == "expired"  # its last run: Quay's word for an internalerror for good
    log = _log(api, "admin/orphan", build["id"])
    phases = [e["message"] for e in log if e.get("type") == "phase"]
    assert phases.count("build-scheduled") == 2 and phases[-1] == "expired", phases
    errors = [e["message"] for e in log if e.get("type") == "error"]
    assert any("(attempt 1 of 2): it will run again" in e for e in errors), errors
    assert any(e.endswith("(attempt 2 of 2)") for e in errors), errors
    # the killed runs left their working directories; the next builder to start removes them
    work = server.data_dir / "builder" / "work"
    assert len(list(work.iterdir())) == 2
    third = Worker(server.workdir, server.db_uri, env, name="builder3", command="builder")
    third.start()
    try:
        wait_until(lambda: not any(work.iterdir()), "the leftovers to be removed", timeout_s=60)
    finally:
        third.stop()


def _processes_of(work: Path, uuid: str) -> list[str]:
    """The processes of a build: named by its uuid (buildah's `-t`), or working, or chrooted, in
    its working directory (a RUN step's). Each as `pid command`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            places = [os.readlink(proc / "cwd"), os.readlink(proc / "root")]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if uuid in command or any(Path(place).is_relative_to(work) for place in places):
            found.append(f"{proc.name} {command}")
    return found


def test_a_killed_builder_takes_its_build_step_with_it(
    server: Server, builder: Worker, api: httpx.Client, base: str
) -> None:
    file_id = _upload(api, f"FROM {base}\nRUN echo tethered-now && sleep 600\n".encode())
    build = _build(api, "admin/tethered", file_id=file_id)
    wait_until(
        lambda: "tethered-now" in _messages(_log(api, "admin/tethered", build["id"])).splitlines(),
        "the build to reach its RUN step",
        timeout_s=300,
    )
    work = server.data_dir / "builder" / "work"
    running = _processes_of(work, build["id"])
    # buildah and the RUN step's sleep, chrooted into the image
    assert any("buildah bud" in p for p in running) and any("sleep 600" in p for p in running), running
    builder.kill()  # SIGKILL of the builder's process group, which buildah's is not
    wait_until(
        lambda: not _processes_of(work, build["id"]),
        "the build's processes to die with the builder",
        timeout_s=60,
    )
