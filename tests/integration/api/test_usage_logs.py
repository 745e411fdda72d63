"""Usage logs through /api/v1: who did what, where and when, filtered, paged and counted."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import insert

from tests.integration.world import World
from wharf.core.clock import now_ms
from wharf.db.models import LogEntry


def _today(offset_days: int = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_days * 86400, UTC).strftime("%m/%d/%Y")


async def test_repository_logs_show_performer_address_and_kind(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    await world.reg.push_image("acme/app", "v1")  # as admin
    await http.put(
        "/api/v1/repository/acme/app/tag/v2", json={"manifest_digest": "sha256:" + "0" * 64}, headers=owner
    )
    r = await http.get("/api/v1/repository/acme/app/logs", headers=owner)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"start_time", "end_time", "logs"} <= set(body) and "next_page" not in body
    push = next(e for e in body["logs"] if e["kind"] == "push_repo")
    assert push["performer"]["name"] == "admin" and push["performer"]["is_robot"] is False
    assert push["namespace"]["name"] == "acme" and push["ip"] == "10.1.2.3"
    assert push["metadata"]["tag"] == "v1" and push["datetime"].endswith(("GMT", "+0000"))
    # newest first
    stamps = [e["datetime"] for e in body["logs"]]
    assert stamps == sorted(
        stamps, key=lambda d: datetime.strptime(d, "%a, %d %b %Y %H:%M:%S %z"), reverse=True
    )
    # only repository admins read them
    assert (
        await http.get("/api/v1/repository/acme/app/logs", headers=world.api["writer"])
    ).status_code == 403
    assert (
        await http.get("/api/v1/repository/acme/app/logs", headers=world.api["outsider"])
    ).status_code == 404


async def test_org_and_user_logs_and_performer_filter(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    await http.put("/api/v1/organization/acme/team/ops", json={"role": "member"}, headers=owner)
    r = await http.get("/api/v1/organization/acme/logs", params={"performer": "owner"}, headers=owner)
    kinds = [e["kind"] for e in r.json()["logs"]]
    assert "org_create_team" in kinds and "org_create" in kinds
    # reader did nothing in acme: the world put them in their team (tests/integration/world.py)
    r = await http.get("/api/v1/organization/acme/logs", params={"performer": "reader"}, headers=owner)
    assert r.json()["logs"] == []
    r = await http.get("/api/v1/organization/acme/logs", params={"performer": "direct"}, headers=owner)
    assert r.json()["logs"] == []
    assert (await http.get("/api/v1/organization/acme/logs", headers=world.api["reader"])).status_code == 403
    # a user sees what happened in their namespace and what they did elsewhere
    r = await http.get("/api/v1/user/logs", headers=owner)
    assert "org_create" in [e["kind"] for e in r.json()["logs"]]
    # superusers see everything; others may not
    assert (await http.get("/api/v1/superuser/logs", headers=world.api["admin"])).status_code == 200
    assert (await http.get("/api/v1/superuser/logs", headers=owner)).status_code == 403


async def test_time_range_paging_and_aggregates(world: World) -> None:
    http, admin = world.reg.http, world.api["admin"]
    org = (await http.get("/api/v1/organization/acme", headers=admin)).json()
    assert org["name"] == "acme"
    now = now_ms()
    # 250 entries for one repository-less namespace event, yesterday and today
    from wharf.core import accounts

    acme = await world.reg.wharf.rt.db.read(accounts.get_by_name, "acme")
    assert acme is not None
    rows = [
        {
            "kind": "org_change_email",
            "account_id": acme.id,
            "performer_id": None,
            "repository_id": None,
            "ip": "192.0.2.1",
            "created_ms": now - i * 1000 - (86_400_000 if i % 2 else 0),
            "metadata_json": "{}",
        }
        for i in range(250)
    ]
    await world.reg.wharf.rt.db.write(lambda db: db.execute(insert(LogEntry), rows))
    params = {"starttime": _today(-2), "endtime": _today()}
    seen: list[str] = []
    r = await http.get("/api/v1/organization/acme/logs", params=params, headers=admin)
    pages = 0
    while True:
        body = r.json()
        assert len(body["logs"]) <= 100
        seen += [e["datetime"] for e in body["logs"] if e["kind"] == "org_change_email"]
        pages += 1
        if "next_page" not in body:
            break
        r = await http.get(
            "/api/v1/organization/acme/logs", params={"next_page": body["next_page"]}, headers=admin
        )
    assert len(seen) == 250 and pages >= 3
    # the default window (last 24 hours) holds today's half only
    r = await http.get("/api/v1/organization/acme/aggregatelogs", headers=admin)
    counts = {a["kind"]: a["count"] for a in r.json()["aggregated"]}
    assert 120 <= counts["org_change_email"] <= 130
    r = await http.get("/api/v1/organization/acme/aggregatelogs", params=params, headers=admin)
    assert sum(a["count"] for a in r.json()["aggregated"] if a["kind"] == "org_change_email") == 250
    # bad input
    assert (
        await http.get("/api/v1/organization/acme/logs", params={"starttime": "2026-11-01"}, headers=admin)
    ).status_code == 400
    assert (
        await http.get("/api/v1/organization/acme/logs", params={"next_page": "forged"}, headers=admin)
    ).status_code == 400
    r = await http.get(
        "/api/v1/organization/acme/logs", params={"starttime": _today(), "endtime": _today(-3)}, headers=admin
    )
    assert r.status_code == 400


async def test_pulls_and_failed_requests_are_logged(world: World) -> None:
    reg, http, owner = world.reg, world.reg.http, world.api["owner"]
    digest, _ = await reg.push_image("acme/app", "v1")
    # a reader pulls by tag and by digest, then asks for what is not there; an outsider is denied
    token = (
        await http.get(
            "/v2/auth", params={"scope": "repository:acme/app:pull"}, auth=("reader", "matrix-password")
        )
    ).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/v2/acme/app/manifests/v1", headers=h)).status_code == 200
    assert (await http.get(f"/v2/acme/app/manifests/{digest}", headers=h)).status_code == 200
    assert (await http.head("/v2/acme/app/manifests/v1", headers=h)).status_code == 200  # HEAD is no pull
    assert (await http.get("/v2/acme/app/manifests/nope", headers=h)).status_code == 404
    r = await http.put(
        "/v2/acme/app/manifests/v2", content=b"{}", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 401
    await reg.wharf.rt.audit_buffer.flush()
    entries = (await http.get("/api/v1/repository/acme/app/logs", headers=owner)).json()["logs"]
    pulls = [e for e in entries if e["kind"] == "pull_repo"]
    assert len(pulls) == 2
    assert {(p["metadata"]["tag"], p["metadata"]["manifest_digest"]) for p in pulls} == {
        ("v1", digest),
        (None, digest),
    }
    assert all(p["performer"]["name"] == "reader" and p["ip"] == "10.1.2.3" for p in pulls)
    # failures are in the repository's log too, resolved when the batch was written
    failed = {e["kind"]: e for e in entries if e["kind"].endswith("_failed")}
    assert failed["pull_repo_failed"]["metadata"]["error"] == "MANIFEST_UNKNOWN"
    assert failed["push_repo_failed"]["metadata"]["error"] == "UNAUTHORIZED"
    assert failed["push_repo_failed"]["performer"]["name"] == "reader"
    # a failure on a repository that does not exist is kept in its namespace's log
    assert (await http.get("/v2/acme/ghost/manifests/v1", headers=h)).status_code in (401, 404)
    await reg.wharf.rt.audit_buffer.flush()
    org = (await http.get("/api/v1/organization/acme/logs", headers=owner)).json()["logs"]
    assert any(e["kind"] == "pull_repo_failed" and e["metadata"]["repo"] == "ghost" for e in org)


async def test_a_token_that_only_lacked_the_scope_is_no_failure(world: World) -> None:
    """A writer pulls, then pushes with the same token: the 401 sends the client for a new token
    (pubtools-quay does this on every push); it is not a failed push in the log."""
    reg, http, owner = world.reg, world.reg.http, world.api["owner"]
    token = (
        await http.get(
            "/v2/auth", params={"scope": "repository:acme/app:pull"}, auth=("writer", "matrix-password")
        )
    ).json()["token"]
    r = await http.put(
        "/v2/acme/app/manifests/v2",
        content=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 401
    assert 'scope="repository:acme/app:pull,push"' in r.headers["WWW-Authenticate"]
    await reg.wharf.rt.audit_buffer.flush()
    entries = (await http.get("/api/v1/repository/acme/app/logs", headers=owner)).json()["logs"]
    assert not [e for e in entries if e["kind"] == "push_repo_failed"]
