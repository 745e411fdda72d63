"""The statements a manifest PUT runs, pinned: a PUT is one write transaction, and on SQLite the
writers of a process queue behind each other, so every statement added to it lowers the push rate
of the whole registry (docs/performance.md). A feature that needs more on this path says so here.

Counted on SQLite's own trace (every statement the driver runs, those the DBAPI path of core/_sql.py
sends included); PostgreSQL adds its advisory locks, so the pin is for SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.conftest import DB_BACKEND
from tests.integration.registry_client import RegistryClient, sha256
from wharf.app import WharfApp
from wharf.core import accounts, notifications, repositories
from wharf.db.engine import Db
from wharf.oci import mediatypes as mt

pytestmark = pytest.mark.skipif(DB_BACKEND != "sqlite", reason="SQLite's trace counts the statements")


@contextmanager
def statements(wharf: WharfApp) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(sql: str) -> None:
        # SQLite reports each statement of a trigger it runs (migration 0045's, which keep
        # repositories.tags_version) as the statement that fired it, again: work inside the
        # statement, not a statement of ours.
        if not seen or seen[-1] != sql:
            seen.append(sql)

    def trace(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.set_trace_callback(record)

    event.listen(wharf.rt.db.engine, "checkout", trace)
    try:
        yield seen
    finally:
        event.remove(wharf.rt.db.engine, "checkout", trace)


LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _verbs(seen: list[str]) -> list[str]:
    return [" ".join(s.split()[:3]) for s in seen]


async def test_a_manifest_put_runs_one_transaction_of_pinned_statements(
    client: httpx.AsyncClient, wharf: WharfApp
) -> None:
    reg = RegistryClient(client, wharf)
    _, manifest = await reg.push_image("admin/counted", "first", layers=1)
    await reg.headers("admin/counted")  # the token, fetched before counting

    # A new manifest of blobs the repository has, under a new tag: what `bench` PUTs.
    body = json.dumps({**manifest, "annotations": {"n": "1"}}).encode()
    with statements(wharf) as seen:
        assert (await reg.push_manifest("admin/counted", "second", body)).status_code == 201
    assert _verbs(seen) == [
        "BEGIN IMMEDIATE",
        "SELECT accounts.id, accounts.kind,",  # the namespace, its repository, the token's check
        "SELECT blobs.id, blobs.digest,",  # the blobs it references are linked
        "INSERT INTO manifests",
        "INSERT INTO manifest_blobs",  # every blob in one statement
        "INSERT INTO quota_repository_blobs",  # the sizes: one more reference to each blob
        # The open tag, whether a policy may freeze it, whether a notification may fire.
        "SELECT tags.id, tags.manifest_id,",
        "INSERT INTO tags",
        "INSERT INTO log_entries",
        "INSERT INTO jobs",  # the scanner's indexing
        "COMMIT",
    ]

    # The same manifest under another tag: no new manifest, no new references.
    with statements(wharf) as seen:
        assert (await reg.push_manifest("admin/counted", "third", body)).status_code == 201
    assert len(seen) == 11, _verbs(seen)
    assert not any(s.startswith(("INSERT INTO quota", "SELECT immutability_policies")) for s in seen)


async def test_a_push_reads_the_notifications_only_of_a_repository_that_has_some(
    client: httpx.AsyncClient, wharf: WharfApp
) -> None:
    """Whether a `repo_push` notification is armed rides on the read of the tag; the
    notifications themselves are read, and their deliveries queued, only when one is."""
    reg = RegistryClient(client, wharf)
    _, manifest = await reg.push_image("admin/hooked", "first", layers=1)
    repo = await wharf.rt.db.read(repositories.get, "admin", "hooked")
    admin = await wharf.rt.db.read(accounts.get_by_name, "admin")
    assert repo is not None and admin is not None
    hook = {"url": "https://hooks.example.com/x"}

    def arm(db: Db) -> None:
        notifications.create(db, wharf.rt.secrets, admin, repo, "repo_push", "webhook", hook, {}, None, None)

    await wharf.rt.db.write(arm)
    body = json.dumps({**manifest, "annotations": {"n": "2"}}).encode()
    with statements(wharf) as seen:
        assert (await reg.push_manifest("admin/hooked", "second", body)).status_code == 201
    verbs = _verbs(seen)
    assert "SELECT notifications.uuid, notifications.event_config_json" in verbs
    assert verbs.count("INSERT INTO jobs") == 2  # the delivery, and the scanner's indexing


async def test_a_first_push_stays_within_a_ceiling_of_statements(
    client: httpx.AsyncClient, wharf: WharfApp
) -> None:
    """The bench's first push (docs/performance.md, "create repositories by pushing"): for the
    config and one layer the HEAD that finds no blob, an upload opened by POST and finished by
    PUT, then the manifest PUT. The POST that creates the repository does it in its own
    transaction, with the namespace read by the lookup that missed."""
    reg = RegistryClient(client, wharf)
    await reg.push_image("admin/warm", "v1", layers=1)  # the process's first token and push
    headers = await reg.headers("admin/fresh")
    blobs = [(sha256(data), data) for data in (b'{"architecture": "amd64", "os": "linux"}', b"layer")]
    checkouts: list[object] = []  # one per transaction, reads (which send no BEGIN) included

    def checkout(*_: object) -> None:
        checkouts.append(None)

    event.listen(wharf.rt.db.engine, "checkout", checkout)
    with statements(wharf) as seen:
        for i, (digest, data) in enumerate(blobs):
            assert (await client.head(f"/v2/admin/fresh/blobs/{digest}", headers=headers)).status_code == 404
            before = len(seen)
            r = await client.post("/v2/admin/fresh/blobs/uploads/", headers=headers)
            assert r.status_code == 202, r.text
            if i == 0:
                assert _verbs(seen[before:]) == [
                    "BEGIN IMMEDIATE",
                    # The namespace, the repository (none yet) and the token's check in one read.
                    "SELECT accounts.id, accounts.kind,",
                    "INSERT INTO repositories",
                    "INSERT INTO log_entries",
                    "SELECT count(*) AS",  # open uploads in the namespace
                    "INSERT INTO uploads",
                    "COMMIT",
                ]
            before, taken = len(seen), len(checkouts)
            r = await client.put(f"{r.headers['location']}?digest={digest}", content=data, headers=headers)
            assert r.status_code == 201, r.text
            # A small blob sent whole to an empty upload: the upload is read, not claimed, and
            # the one write that publishes the blob takes the upload only if nobody holds it.
            assert len(checkouts) - taken == 2
            assert _verbs(seen[before:]) == [
                "SELECT repositories.id, repositories.namespace_id,",  # the token's check, the upload
                "BEGIN IMMEDIATE",
                "SELECT blob_deletions.digest FROM",
                "DELETE FROM uploads",
                "INSERT INTO blobs",
                "INSERT INTO repository_blobs",
                "COMMIT",
            ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": blobs[0][0], "size": len(blobs[0][1])},
            "layers": [{"mediaType": LAYER, "digest": blobs[1][0], "size": len(blobs[1][1])}],
        }
        assert (await reg.push_manifest("admin/fresh", "latest", manifest)).status_code == 201
    event.remove(wharf.rt.db.engine, "checkout", checkout)
    # A ceiling: what a change to this path adds or saves shows here (the scanner's job included).
    # 53 statements in 7 writes before session 13: the lookup that found no repository read its
    # namespace in a second statement (in the first HEAD and in the POST that creates it), each
    # upload PUT claimed its upload in a write of its own, the manifest PUT linked its blobs one
    # statement each and read the repository's notifications on its own.
    # 57 statements before session 12: the creating POST read the namespace again, and each upload
    # PUT read the repository and the upload in two statements, and each later POST counted the
    # open uploads of the repository and of the namespace in two. 11 transactions before the
    # upload PUT claimed its upload in the write that finds it (it read it in a transaction first).
    writes = sum(1 for s in seen if s.startswith("BEGIN"))
    assert len(seen) <= 43, _verbs(seen)
    assert writes <= 5, _verbs(seen)
    assert len(checkouts) <= 9, _verbs(seen)  # the reads of the two HEADs and PUTs, five writes


async def test_each_request_of_a_pull_is_one_statement(client: httpx.AsyncClient, wharf: WharfApp) -> None:
    """A pull's requests each read in one statement that also checks the token is still current:
    the ping, the manifest, each blob (HEAD and GET), and a tag page kept by the process. On
    PostgreSQL each is then one round trip, run on the event loop (db/hot_reads.py)."""
    reg = RegistryClient(client, wharf)
    digest, manifest = await reg.push_image("admin/pulled", "v1", layers=1)
    headers = {**await reg.headers("admin/pulled", "pull"), "Accept": mt.OCI_MANIFEST}
    layer = manifest["layers"][0]["digest"]
    assert (await client.get("/v2/admin/pulled/tags/list", headers=headers)).status_code == 200  # kept
    requests = [
        ("GET", "/v2/"),
        ("GET", "/v2/admin/pulled/manifests/v1"),
        ("HEAD", f"/v2/admin/pulled/manifests/{digest}"),
        ("HEAD", f"/v2/admin/pulled/blobs/{layer}"),
        ("GET", f"/v2/admin/pulled/blobs/{layer}"),
        ("GET", "/v2/admin/pulled/tags/list"),
    ]
    for method, path in requests:
        with statements(wharf) as seen:
            r = await client.request(method, path, headers=headers)
        assert r.status_code == 200, (path, r.status_code)
        assert len(seen) == 1, (method, path, _verbs(seen))
    # A first push's lookup of a blob in a repository that does not exist yet: still one.
    headers = await reg.headers("admin/nothing-here")
    with statements(wharf) as seen:
        r = await client.head(f"/v2/admin/nothing-here/blobs/{layer}", headers=headers)
    assert r.status_code == 404 and len(seen) == 1, _verbs(seen)
