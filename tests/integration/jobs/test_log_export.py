"""Usage-log export (exportlogs): a job writes the file, a callback URL or an e-mail gets a signed
link that expires, and the export's state is visible while it runs. Real receivers: a local HTTP
server for the callback, aiosmtpd for the e-mail."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import TEST_HOSTNAME
from tests.integration.world import World, api_token
from tests.receivers import HttpReceiver, Mailbox, http_receiver, smtp_server
from wharf.app import WharfApp, build_app
from wharf.config import Settings, load_settings
from wharf.core import accounts, log_exports, logs, scopes
from wharf.core.clock import now_ms
from wharf.core.shapes import log_entry
from wharf.db.models import LogEntry, LogExport
from wharf.integrations import outbound
from wharf.jobs import log_export, runner
from wharf.runtime import Runtime


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(None, _config(data_dir, db_uri, mailbox), environ={})


def _config(data_dir: object, db_uri: str | None, mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    return {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
        "WEBHOOK_HOSTNAME_BLACKLIST": ["blocked.example"],
        **mailbox.settings(),
        **changes,
    }


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


def _day(offset_days: int = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_days * 86400, UTC).strftime("%m/%d/%Y")


def _range() -> dict[str, str]:
    """Yesterday to today, computed when a test runs (a run may cross midnight UTC)."""
    return {"starttime": _day(-1), "endtime": _day()}


async def _run_jobs(rt: Runtime) -> None:
    while await runner.run_once(rt):
        pass


async def _add_entries(rt: Runtime, namespace: str, count: int) -> None:
    account = await rt.db.read(accounts.get_by_name, namespace)
    assert account is not None
    now = now_ms()
    rows = [
        {
            "kind": "org_change_email",
            "account_id": account.id,
            "performer_id": None,
            "repository_id": None,
            "ip": "192.0.2.7",
            "created_ms": now - 1000 - i * 50,
            "metadata_json": json.dumps({"n": i}),
        }
        for i in range(count)
    ]
    await rt.db.write(lambda db: db.execute(insert(LogEntry), rows))


async def _download(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    r = await http.get(urlsplit(url).path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    return body


async def test_ten_thousand_entries_reach_the_callback_complete(world: World, receiver: HttpReceiver) -> None:
    http, owner, rt = world.reg.http, world.api["owner"], world.reg.wharf.rt
    await _add_entries(rt, "acme", 10_000)
    dates = _range()
    r = await http.post(
        "/api/v1/organization/acme/exportlogs",
        params=dates,
        json={"callback_url": f"{receiver.url}/exports"},
        headers={**owner, "Host": "evil.example"},  # a forged Host header changes no link
    )
    assert r.status_code == 200, r.text
    export_id = r.json()["export_id"]
    assert r.json() == {"export_id": export_id}
    state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
    assert state["state"] == "queued" and state["entries_written"] == 0

    await _run_jobs(rt)
    got = receiver.wait_for(1)
    assert len(got) == 1 and got[0].method == "POST" and got[0].path == "/exports"
    assert got[0].headers["content-type"] == "application/json"
    callback = json.loads(got[0].body)
    assert callback == {
        "export_id": export_id,
        "start_time": dates["starttime"],
        "end_time": dates["endtime"],
        "namespace": "acme",
        "repository": None,
        "exported_data_url": callback["exported_data_url"],
        "status": "success",
    }
    # the link points at SERVER_HOSTNAME, not at the Host header the request was sent with
    assert callback["exported_data_url"].startswith("http://registry.test/exportedlogs/")

    exported = await _download(http, callback["exported_data_url"])
    assert exported["export_id"] == export_id
    assert exported["details"]["namespace"] == "acme" and exported["details"]["repository"] is None
    assert exported["logs"][-1] == {"terminator": True}
    entries = exported["logs"][:-1]
    probes = [e["metadata"]["n"] for e in entries if e["kind"] == "org_change_email"]
    assert sorted(probes) == list(range(10_000))
    sample = next(e for e in entries if e["kind"] == "org_change_email")
    assert sample["namespace"]["name"] == "acme" and sample["ip"] == "192.0.2.7" and sample["datetime"]
    # newest first, as the log pages are
    assert [e["metadata"]["n"] for e in entries if e["kind"] == "org_change_email"][:3] == [0, 1, 2]

    state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
    assert state["state"] == "complete" and state["entries_written"] == len(entries)
    assert state["attempts"] == 1 and state["error"] is None and state["finished"]
    # the outcome is in the organization's log, as Quay names it
    org_log = (await http.get("/api/v1/organization/acme/logs", headers=owner)).json()["logs"]
    success = next(e for e in org_log if e["kind"] == "export_logs_success")
    assert success["metadata"]["export_id"] == export_id and success["performer"]["name"] == "owner"
    assert success["metadata"]["url"] == f"{receiver.url}/exports"


async def test_progress_is_recorded_after_every_page(world: World, receiver: HttpReceiver) -> None:
    http, owner, rt = world.reg.http, world.api["owner"], world.reg.wharf.rt
    await _add_entries(rt, "acme", 1_600)
    r = await http.post(
        "/api/v1/organization/acme/exportlogs", json={"callback_url": receiver.url}, headers=owner
    )
    export = await rt.db.read(log_exports.get, r.json()["export_id"])
    assert export is not None
    seen: list[int] = []

    def render(entry: logs.Entry) -> dict[str, Any]:
        found = rt.db.run_read(log_exports.get, export.uuid)
        assert found is not None
        seen.append(found.entries_written)
        return log_entry(entry)

    written = await log_exports.write_file(rt.db, rt.store, export, {}, render)
    assert written >= 1_600
    pages = sorted(set(seen))
    assert pages == [i * log_exports.PAGE for i in range(len(pages))] and len(pages) >= 4
    state = (await http.get(f"/api/v1/exportlogs/{export.uuid}", headers=owner)).json()
    assert state["state"] == "exported" and state["entries_written"] == written


async def test_email_callback_and_repository_export(world: World, mailbox: Mailbox) -> None:
    reg, http, owner, rt = world.reg, world.reg.http, world.api["owner"], world.reg.wharf.rt
    start = len(mailbox.messages)  # after the world's team invitations
    await reg.push_image("acme/app", "v1")
    r = await http.post(
        "/api/v1/repository/acme/app/exportlogs",
        params=_range(),
        json={"callback_email": "auditor@example.com"},
        headers=owner,
    )
    assert r.status_code == 200, r.text
    await _run_jobs(rt)
    message = mailbox.wait_for(start + 1)[start]
    assert message["To"] == "auditor@example.com" and "acme/app" in message["Subject"]
    text = message.get_content()
    match = re.search(r"http://registry\.test/exportedlogs/\S+", text)
    assert match, text
    assert "60 minutes" in text and r.json()["export_id"] in text
    exported = await _download(http, match.group(0))
    assert exported["details"]["repository"] == "app"
    kinds = {e["kind"] for e in exported["logs"][:-1]}
    assert "push_repo" in kinds
    assert all(e["namespace"]["name"] == "acme" for e in exported["logs"][:-1])


async def test_user_export_covers_own_namespace_and_actions(world: World, receiver: HttpReceiver) -> None:
    http, owner, rt = world.reg.http, world.api["owner"], world.reg.wharf.rt
    r = await http.post("/api/v1/user/exportlogs", json={"callback_url": receiver.url}, headers=owner)
    assert r.status_code == 200, r.text
    await _run_jobs(rt)
    callback = json.loads(receiver.wait_for(1)[0].body)
    assert callback["namespace"] == "owner" and callback["status"] == "success"
    exported = await _download(http, callback["exported_data_url"])
    assert "org_create" in {e["kind"] for e in exported["logs"][:-1]}


async def test_links_that_were_altered_or_expired_are_refused(world: World, receiver: HttpReceiver) -> None:
    http, owner, rt = world.reg.http, world.api["owner"], world.reg.wharf.rt
    r = await http.post(
        "/api/v1/organization/acme/exportlogs", json={"callback_url": receiver.url}, headers=owner
    )
    export_id = r.json()["export_id"]
    await _run_jobs(rt)
    path = urlsplit(json.loads(receiver.wait_for(1)[0].body)["exported_data_url"]).path
    token = path.rsplit("/", 1)[1]
    assert (await http.get(path)).status_code == 200
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    for bad in (flipped, token[:-8], "not-a-token"):
        r = await http.get(f"/exportedlogs/{bad}")
        assert r.status_code == 404, bad
        assert "not valid" in r.json()["detail"]
    expired = log_exports.link_token(rt.secrets, export_id, now_ms() - 1)
    r = await http.get(f"/exportedlogs/{expired}")
    assert r.status_code == 410 and "expired" in r.json()["detail"]
    # a link that is genuine but names no export
    r = await http.get(f"/exportedlogs/{log_exports.link_token(rt.secrets, 'no-such', now_ms() + 60_000)}")
    assert r.status_code == 404


async def test_who_may_export_and_watch(world: World, receiver: HttpReceiver) -> None:
    http, api = world.reg.http, world.api
    body = {"callback_url": receiver.url}
    assert (
        await http.post("/api/v1/repository/acme/app/exportlogs", json=body, headers=api["writer"])
    ).status_code == 403
    assert (
        await http.post("/api/v1/repository/acme/app/exportlogs", json=body, headers=api["outsider"])
    ).status_code == 404
    r = await http.post("/api/v1/organization/acme/exportlogs", json=body, headers=api["reader"])
    assert r.status_code == 403 and r.json()["error_type"] == "insufficient_scope"
    assert (await http.post("/api/v1/user/exportlogs", json=body)).status_code == 401
    # a token without user:admin may not export the user's logs
    limited = await api_token(world.reg, "owner", frozenset({scopes.REPO_READ}))
    assert (await http.post("/api/v1/user/exportlogs", json=body, headers=limited)).status_code == 403
    # repository admins and superusers may
    r = await http.post("/api/v1/repository/acme/app/exportlogs", json=body, headers=api["direct"])
    assert r.status_code == 200, r.text
    export_id = r.json()["export_id"]
    r = await http.post("/api/v1/repository/acme/app/exportlogs", json=body, headers=api["admin"])
    assert r.status_code == 200, r.text
    # the state is the requester's and the superusers' to see
    assert (await http.get(f"/api/v1/exportlogs/{export_id}", headers=api["direct"])).status_code == 200
    assert (await http.get(f"/api/v1/exportlogs/{export_id}", headers=api["admin"])).status_code == 200
    r = await http.get(f"/api/v1/exportlogs/{export_id}", headers=api["owner"])
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    assert (await http.get("/api/v1/exportlogs/nope", headers=api["admin"])).status_code == 404


BAD_CALLBACKS: list[tuple[dict[str, Any], str]] = [
    ({}, "callback_url or callback_email"),
    ({"callback_url": "", "callback_email": ""}, "callback_url or callback_email"),
    ({"callback_url": "ftp://127.0.0.1/logs"}, "scheme"),  # Quay's tests look for "scheme"
    ({"callback_url": "not a url"}, "http"),
    ({"callback_url": "http://[::1/hook"}, "not a URL"),
    ({"callback_url": "https://Blocked.example/hook"}, "WEBHOOK_HOSTNAME_BLACKLIST"),
    # internal addresses that SSRF_ALLOWED_HOSTS (127.0.0.1 here) does not list
    ({"callback_url": "http://169.254.169.254/latest/meta-data"}, "SSRF_ALLOWED_HOSTS"),
    ({"callback_url": "http://10.20.30.40:8080/hook"}, "SSRF_ALLOWED_HOSTS"),
    ({"callback_url": "http://[::1]/hook"}, "SSRF_ALLOWED_HOSTS"),
    # Quay's tests look for "Invalid callback URL"; well-known internal names need no DNS to refuse
    ({"callback_url": "http://localhost/callback"}, "Invalid callback URL"),
    ({"callback_url": "https://kubernetes.default.svc/callback"}, "Invalid callback URL"),
    ({"callback_url": "http://10.0.0.1/callback"}, "Invalid callback URL"),
    ({"callback_url": "https://x.example/" + "a" * 2100}, "2048"),
    ({"callback_email": "nobody"}, "Invalid callback e-mail"),
    ({"callback_url": 5}, "callback_url"),
]


async def test_bad_callbacks_and_dates_are_refused(world: World, receiver: HttpReceiver) -> None:
    http, owner = world.reg.http, world.api["owner"]
    for body, says in BAD_CALLBACKS:
        r = await http.post("/api/v1/organization/acme/exportlogs", json=body, headers=owner)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error_type"] == "invalid_request" and says in r.json()["detail"], r.json()
    for params in ({"starttime": "2026-11-01"}, {"starttime": _day(), "endtime": _day(-3)}):
        r = await http.post(
            "/api/v1/organization/acme/exportlogs",
            params=params,
            json={"callback_url": receiver.url},
            headers=owner,
        )
        assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
    # none of them was recorded, nor queued
    count = select(func.count()).select_from(LogExport)
    assert await world.reg.wharf.rt.db.read(lambda db: db.execute(count).scalar()) == 0


async def test_a_failing_callback_is_retried_then_the_export_fails(
    world: World, receiver: HttpReceiver
) -> None:
    http, owner, rt = world.reg.http, world.api["owner"], world.reg.wharf.rt
    receiver.statuses = [503] * 20
    r = await http.post(
        "/api/v1/organization/acme/exportlogs", json={"callback_url": receiver.url}, headers=owner
    )
    export_id = r.json()["export_id"]
    await runner.run_once(rt)
    state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
    assert state["state"] == "exported" and state["attempts"] == 1
    assert "503" in state["error"] and state["entries_written"] > 0
    # the queue runs it again later; here the job runs at once instead of after its backoff
    for attempt in range(2, log_exports.MAX_ATTEMPTS + 1):
        with pytest.raises(log_export.CallbackFailed):
            await log_export.export_logs(rt, {"export_id": export_id})
        state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
        assert state["attempts"] == attempt
    assert state["state"] == "failed" and state["finished"]
    got = receiver.wait_for(log_exports.MAX_ATTEMPTS + 1)
    bodies = [json.loads(g.body) for g in got]
    assert [b["status"] for b in bodies] == ["success"] * log_exports.MAX_ATTEMPTS + ["failed"]
    assert bodies[-1]["exported_data_url"] is None
    # the file was written once: each attempt only tried the callback again
    assert len({b["export_id"] for b in bodies}) == 1
    org_log = (await http.get("/api/v1/organization/acme/logs", headers=owner)).json()["logs"]
    failure = next(e for e in org_log if e["kind"] == "export_logs_failure")
    assert failure["metadata"]["export_id"] == export_id and "503" in failure["metadata"]["error"]
    # a finished export is left alone by a late run of its job
    await log_export.export_logs(rt, {"export_id": export_id})
    assert len(receiver.requests) == log_exports.MAX_ATTEMPTS + 1


@asynccontextmanager
async def _another_node(settings: Settings, mailbox: Mailbox, **changes: Any) -> AsyncIterator[WharfApp]:
    """A second Wharf process of the same installation (same database and storage), configured differently."""
    app = build_app(
        load_settings(None, _config(settings.DATA_DIR, settings.DB_URI, mailbox, **changes), environ={}),
        run_workers=False,
    )
    try:
        yield app
    finally:
        await app.rt.close()


def _client(app: WharfApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node2.test")


async def test_turned_off_exports_are_not_found(world: World, settings: Settings, mailbox: Mailbox) -> None:
    async with _another_node(settings, mailbox, FEATURE_LOG_EXPORT=False) as app, _client(app) as http:
        r = await http.post(
            "/api/v1/organization/acme/exportlogs",
            json={"callback_url": "http://127.0.0.1:9/"},
            headers=world.api["owner"],
        )
        assert r.status_code == 404 and "FEATURE_LOG_EXPORT" in r.json()["detail"]


async def test_without_a_mail_server_the_export_says_so_when_it_delivers(
    world: World, settings: Settings, mailbox: Mailbox
) -> None:
    """As Quay: an e-mail callback is accepted; delivering it is what fails, and the export says why."""
    before = len(mailbox.messages)  # the world's team invitations
    async with _another_node(settings, mailbox, MAIL_SERVER=None) as app, _client(app) as http:
        owner = world.api["owner"]
        r = await http.post(
            "/api/v1/organization/acme/exportlogs",
            json={"callback_email": "auditor@example.com"},
            headers=owner,
        )
        assert r.status_code == 200, r.text
        export_id = r.json()["export_id"]
        await runner.run_once(app.rt)
        state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
        assert state["attempts"] == 1 and "MAIL_SERVER" in state["error"], state
    assert len(mailbox.messages) == before


async def test_a_callback_name_is_checked_when_the_link_is_delivered(
    world: World, settings: Settings, mailbox: Mailbox, receiver: HttpReceiver
) -> None:
    """A host name is not resolved when the export is asked for (as on Quay, only its form and
    scheme and address literals are checked then), but every delivery refuses an internal address."""
    host = socket.gethostname()
    address = ipaddress.ip_address(socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)[0][4][0])
    if not outbound.is_internal(address):
        pytest.skip(f"{host} resolves to a public address here")
    url = receiver.url.replace("127.0.0.1", host)
    async with _another_node(settings, mailbox, SSRF_ALLOWED_HOSTS=[]) as app, _client(app) as http:
        owner = world.api["owner"]
        r = await http.post("/api/v1/organization/acme/exportlogs", json={"callback_url": url}, headers=owner)
        assert r.status_code == 200, r.text
        export_id = r.json()["export_id"]
        await runner.run_once(app.rt)
        state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
        assert "internal address" in state["error"] and "SSRF_ALLOWED_HOSTS" in state["error"], state
    assert receiver.requests == []


async def test_links_use_server_hostname_and_the_file_goes_when_they_expire(
    world: World, settings: Settings, mailbox: Mailbox, receiver: HttpReceiver
) -> None:
    changes = {"SERVER_HOSTNAME": "logs.example.com", "PREFERRED_URL_SCHEME": "https"}
    async with (
        _another_node(settings, mailbox, LOG_EXPORT_LINK_EXPIRATION_S=0, **changes) as app,
        _client(app) as http,
    ):
        owner = world.api["owner"]
        r = await http.post(
            "/api/v1/organization/acme/exportlogs", json={"callback_url": receiver.url}, headers=owner
        )
        export_id = r.json()["export_id"]
        assert await runner.run_once(app.rt)  # the export
        url = json.loads(receiver.wait_for(1)[0].body)["exported_data_url"]
        assert url.startswith("https://logs.example.com/exportedlogs/")
        export = await app.rt.db.read(log_exports.get, export_id)
        assert export is not None and export.storage_path is not None
        assert await app.rt.store.stat(export.storage_path) is not None
        r = await http.get(urlsplit(url).path)
        assert r.status_code == 410  # a link that lives 0 seconds
        await _run_jobs(app.rt)  # removes the file once the link has expired
        assert await app.rt.store.stat(export.storage_path) is None
        state = (await http.get(f"/api/v1/exportlogs/{export_id}", headers=owner)).json()
        assert state["state"] == "expired"
        r = await http.get(
            f"/exportedlogs/{log_exports.link_token(app.rt.secrets, export_id, now_ms() + 60_000)}"
        )
        assert r.status_code == 410 and "removed" in r.json()["detail"]
