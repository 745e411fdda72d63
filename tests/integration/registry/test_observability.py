"""Request ids, Prometheus metrics and readiness, through the in-process app."""

from __future__ import annotations

import json
import logging

from sqlalchemy import text

from tests.integration.registry_client import RegistryClient
from wharf.core import queue
from wharf.observe import JsonFormatter, request_id


async def test_every_answer_carries_a_request_id(reg: RegistryClient) -> None:
    first = await reg.http.get("/v2/")
    second = await reg.http.get("/api/v1/discovery")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert len(first.headers["x-request-id"]) == 24
    # a sane id from the client (a proxy's) is kept; anything else is replaced
    r = await reg.http.get("/health", headers={"X-Request-ID": "lb-1234.abc"})
    assert r.headers["x-request-id"] == "lb-1234.abc"
    r = await reg.http.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"


async def _metrics(reg: RegistryClient) -> dict[str, float]:
    out = {}
    for line in (await reg.http.get("/metrics")).text.splitlines():
        if line.startswith("wharf_"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


async def test_metrics_by_route_status_and_bytes(reg: RegistryClient) -> None:
    # Counters belong to the process and other tests add to them: compare before and after.
    before = await _metrics(reg)
    await reg.push_image("admin/app", "v1")
    headers = await reg.headers("admin/app", "pull")
    for _ in range(3):
        assert (await reg.http.get("/v2/admin/app/manifests/v1", headers=headers)).status_code == 200
    assert (await reg.http.get("/v2/admin/app/manifests/nope", headers=headers)).status_code == 404
    await reg.http.get("/api/v1/repository/admin/app", headers=headers)
    # an upload left open shows in the gauge, a queued job in the queue depth
    r = await reg.http.post("/v2/admin/app/blobs/uploads/", headers=await reg.headers("admin/app"))
    assert r.status_code == 202
    await reg.wharf.rt.db.write(queue.enqueue, "gc", {}, delay_ms=3_600_000)
    after = await _metrics(reg)

    def grew(key: str) -> float:
        return after.get(key, 0) - before.get(key, 0)

    manifest = 'method="GET",route="v2_manifest"'
    assert grew(f'wharf_http_requests_total{{{manifest},status="200"}}') == 3
    assert grew(f'wharf_http_requests_total{{{manifest},status="404"}}') == 1
    assert grew('wharf_http_requests_total{method="PUT",route="v2_manifest",status="201"}') == 1
    api_route = 'route="/api/v1/repository/{repository:path}"'
    assert any(api_route in k and grew(k) == 1 for k in after if k.startswith("wharf_http_requests_total"))
    assert grew(f"wharf_http_request_duration_seconds_count{{{manifest}}}") == 4
    assert grew('wharf_http_sent_bytes_total{route="v2_manifest"}') > 0
    assert grew('wharf_http_received_bytes_total{route="v2_upload"}') > 0
    assert after["wharf_open_uploads"] >= 1
    assert after['wharf_queue_depth{queue="gc"}'] >= 1


async def test_ready_checks_database_migrations_and_storage(reg: RegistryClient) -> None:
    r = await reg.http.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"database": True, "migrations": True, "storage": True}}


async def test_not_ready_on_a_schema_behind_the_code_or_without_alembic_version(reg: RegistryClient) -> None:
    db = reg.wharf.rt.db
    await db.write(lambda tx: tx.execute(text("UPDATE alembic_version SET version_num = '0019'")))
    r = await reg.http.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": True, "migrations": False, "storage": True}
    await db.write(lambda tx: tx.execute(text("DROP TABLE alembic_version")))
    r = await reg.http.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": True, "migrations": False, "storage": True}


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("wharf.test", logging.WARNING, __file__, 1, "disk %s", ("full",), None)
    token = request_id.set("abc123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "disk full" and line["level"] == "warning" and line["request_id"] == "abc123"
    assert "request_id" not in json.loads(JsonFormatter().format(record))
