"""Security scanning's services: indexing a manifest digest from its layers in the blob store,
and matching stored packages against the vulnerability store (issue 16).

Indexing reads each layer once, as a stream: the indexer (`wharf.secscan`) is synchronous and
runs in a worker thread, pulling the blob's chunks from the event loop one at a time, so memory
stays bounded by a chunk whatever the layer's size. Matching never reads a layer: it compares the
stored packages with the stored `affected` entries, so new data re-matches every image cheaply.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

from wharf.core import manifests, secscan_notices
from wharf.core import secscan as store
from wharf.core.clock import now_ms
from wharf.core.secscan import MatchRow, PackageRow, StoredPackage
from wharf.core.secscan_notices import Found
from wharf.db.engine import Database, Db
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.oci.manifest import ManifestError, ParsedManifest, parse_manifest
from wharf.secscan import ecosystems
from wharf.secscan.errors import IndexingError
from wharf.secscan.indexer import INDEXER_VERSION, ImageIndex, Indexer
from wharf.secscan.packages import Kind
from wharf.secscan.versions import VersionError, evaluate
from wharf.storage.base import BlobStore, PathNotFound, StorageError, blob_path

log = logging.getLogger("wharf.secscan")

# Layer media types the indexer reads (tar, gzip or zstd: it tells them by their first bytes).
_LAYER_PREFIXES: Final = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")
_CHUNK_WAIT_S: Final = 300.0
"""How long the indexer thread waits for one chunk from the store before giving up."""

LIST_REASON: Final = "a manifest list: each of the manifests it lists is indexed on its own"
RETRIES: Final = 4
"""Retries of an index that failed for a passing reason, after the first attempt."""
RETRY_BASE_MS: Final = 60_000


class LayerUnavailable(IndexingError):
    """A layer the blob store does not have (yet): the image is not at fault, it is retried."""


async def index_manifest(
    database: Database, blobs: BlobStore, digest: str, origin: str | None = None
) -> str | None:
    """Index one manifest digest unless the current indexer already did; returns its status, or
    None when no repository holds the digest any more (it was deleted since it was queued).
    `origin` (the registry's public address) is for the links of `vulnerability_found`."""
    done = await database.read(store.get_index, digest)
    if done is not None and _current(done):
        return done.status
    found = await database.read(store.manifest_content, digest)
    if found is None:
        return None
    media_type, body = found
    try:
        parsed = parse_manifest(body, media_type)
    except ManifestError as e:
        return await _record(
            database, digest, store.UNSUPPORTED, reason=f"not a manifest Wharf can read: {e}"
        )
    if parsed.is_index:
        return await database.write(_index_list, digest, parsed)
    refusal = _not_an_image(parsed)
    if refusal is not None:
        return await _record(database, digest, store.UNSUPPORTED, reason=refusal)
    layers = [d.digest for d in parsed.blobs[1:] if not d.has_urls]
    try:
        index = await read_layers(blobs, layers)
    except (LayerUnavailable, StorageError) as e:
        # The store is unwell (or the layer is not there yet), not the image: retried later.
        return await _record_passing_failure(database, digest, done, e)
    except IndexingError as e:
        log.info("indexing %s failed: %s", digest, e.reason)
        return await _record(database, digest, store.FAILED, reason=e.reason)
    except Exception as e:
        # A bug in a format's parser: recorded as failed, or the job would fail, be retried and
        # be queued again by the backfill forever.
        log.exception("indexing %s failed unexpectedly", digest)
        reason = f"the indexer failed ({type(e).__name__})"
        return await _record(database, digest, store.FAILED, reason=reason)
    rows = package_rows(index)
    warnings = "; ".join(index.warnings) or None
    await database.write(_store_index, digest, rows, _distribution(index), warnings, origin)
    return store.SCANNED


def _current(done: store.IndexRecord) -> bool:
    """Whether an index stands: made by this indexer, and not a failure whose retry is due."""
    if done.status == store.QUEUED or done.indexer_version < INDEXER_VERSION:
        return False
    return done.retry_after_ms is None or done.retry_after_ms > now_ms()


def retry_delay_ms(attempts: int) -> int | None:
    """How long after its `attempts`-th failure in a row for a passing reason an index is tried
    again (1, 4, 16, 64 minutes: long enough for a store to come back, few enough to give up
    within a day); None once RETRIES are spent, the index then stays failed until a rescan or
    a new indexer."""
    if attempts > RETRIES:
        return None
    return int(RETRY_BASE_MS * 4 ** (attempts - 1))


async def _record_passing_failure(
    database: Database, digest: str, done: store.IndexRecord | None, error: Exception
) -> str:
    attempts = (done.attempts if done is not None and done.status == store.FAILED else 0) + 1
    delay = retry_delay_ms(attempts)
    reason = error.reason if isinstance(error, IndexingError) else f"the blob store failed ({error})"
    reason += f" (attempt {attempts}; " + ("retried later)" if delay is not None else "no retry left)")
    log.warning("indexing %s failed: %s", digest, reason)
    await database.write(
        store.record_index,
        digest,
        store.FAILED,
        INDEXER_VERSION,
        reason=reason,
        attempts=attempts,
        retry_in_ms=delay,
    )
    return store.FAILED


async def _record(database: Database, digest: str, status: str, *, reason: str) -> str:
    await database.write(store.record_index, digest, status, INDEXER_VERSION, reason=reason)
    return status


def _index_list(db: Db, digest: str, parsed: ParsedManifest) -> str:
    for child in parsed.children:
        store.enqueue_index(db, str(child.digest))
    store.record_index(db, digest, store.UNSUPPORTED, INDEXER_VERSION, reason=LIST_REASON)
    return store.UNSUPPORTED


def _store_index(
    db: Db,
    digest: str,
    rows: list[PackageRow],
    distribution: dict[str, str] | None,
    warnings: str | None,
    origin: str | None,
) -> None:
    stored = store.record_index(
        db,
        digest,
        store.SCANNED,
        INDEXER_VERSION,
        reason=warnings,
        distribution=distribution,
        packages=rows,
    )
    match_packages(db, stored, origin)


def _distribution(index: ImageIndex) -> dict[str, str] | None:
    d = index.distribution
    if d is None:
        return None
    return {
        "id": d.id,
        "version_id": d.version_id,
        "version_codename": d.version_codename,
        "pretty_name": d.pretty_name,
    }


def _not_an_image(parsed: ParsedManifest) -> str | None:
    """Why a manifest is not an image the indexer reads (Quay's "unsupported"), or None."""
    if parsed.media_type not in mt.IMAGE_MANIFESTS or parsed.config_media_type not in mt.IMAGE_CONFIGS:
        kind = parsed.artifact_type or parsed.config_media_type or parsed.media_type
        return f"not a container image ({kind})"
    layers = parsed.blobs[1:]
    if not layers:
        return "an image without layers"
    odd = next((d.media_type for d in layers if not d.media_type.startswith(_LAYER_PREFIXES)), None)
    if odd is not None:
        return f"a layer is not a container filesystem ({odd})"
    return None


def package_rows(index: ImageIndex) -> list[PackageRow]:
    """The packages of an index as the store keeps them, with their ecosystems and match names."""
    dist = index.distribution
    rows = []
    for found in index.packages:
        p = found.package
        ecosystem = ecosystems.ecosystem_of(p.kind, dist)
        rows.append(
            PackageRow(
                name=p.name,
                version=p.version,
                version_format=str(p.kind),
                ecosystem=ecosystem,
                match_name=ecosystems.match_name(p, ecosystem),
                namespace=ecosystems.namespace_of(p.kind, dist),
                added_by=found.layer,
                source_name=p.source_name,
                source_version=p.source_version,
                arch=p.arch,
                path=p.path,
            )
        )
    return rows


# Reading layers ----------------------------------------------------------------------------------


class _BlobReader:
    """A blob in the store as the synchronous `read(n)` the indexer wants, for a worker thread:
    each chunk is fetched on the event loop when the indexer has used up the previous one."""

    def __init__(self, loop: asyncio.AbstractEventLoop, chunks: AsyncIterator[bytes], stop: threading.Event):
        self._loop = loop
        self._chunks = chunks
        self._stop = stop
        self._buffer = memoryview(b"")
        self._done = False

    def read(self, n: int, /) -> bytes:
        while not self._buffer and not self._done:
            if self._stop.is_set():
                raise IndexingError("indexing was stopped")
            chunk = asyncio.run_coroutine_threadsafe(_next(self._chunks), self._loop).result(_CHUNK_WAIT_S)
            if chunk is None:
                self._done = True
            else:
                self._buffer = memoryview(chunk)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return bytes(out)

    def close(self) -> None:
        closing = getattr(self._chunks, "aclose", None)
        if closing is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(closing(), self._loop).result(_CHUNK_WAIT_S)


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


async def read_layers(blobs: BlobStore, layers: Sequence[Digest]) -> ImageIndex:
    """Index an image's layers (bottom first) straight from the blob store. Raises IndexingError
    for a layer that is corrupt, hostile, over a limit or missing from storage, StorageError when
    the store fails otherwise (worth retrying)."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def run() -> ImageIndex:
        indexer = Indexer()
        for digest in layers:
            reader = _BlobReader(loop, blobs.read(blob_path(digest)), stop)
            try:
                indexer.add_layer(str(digest), reader)
            except PathNotFound as e:
                raise LayerUnavailable(f"layer {digest}: not in storage ({e})") from e
            finally:
                reader.close()
        return indexer.result()

    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        stop.set()  # the thread gives up at its next chunk
        raise


# Matching ----------------------------------------------------------------------------------------


def match_packages(db: Db, packages: Sequence[StoredPackage], origin: str | None = None) -> int:
    """Match `packages` against the vulnerability store, replacing their earlier matches, and
    fire `vulnerability_found` for what was never announced for its manifest (`origin`: the
    registry's public address, for the event's links). Returns how many matches they now have."""
    keys = {(p.package.ecosystem, p.package.match_name) for p in packages if p.package.ecosystem}
    advisories = defaultdict(list)
    for a in store.advisories_for(db, keys):
        advisories[(a.ecosystem, a.package)].append(a)
    matches: dict[tuple[int, int], MatchRow] = {}
    for sp in packages:
        p = sp.package
        for a in advisories.get((p.ecosystem, p.match_name), ()):
            if (sp.id, a.vulnerability_id) in matches:
                continue  # a record listing the package twice: the first entry that applies
            fixed = _affects(p, a.affected)
            if fixed is not None:
                matches[(sp.id, a.vulnerability_id)] = MatchRow(
                    sp.id, a.vulnerability_id, sp.manifest_digest, fixed
                )
    store.replace_matches(db, [p.id for p in packages], list(matches.values()))
    secscan_notices.announce(
        db, [Found(m.manifest_digest, m.vulnerability_id, m.fixed_by) for m in matches.values()], origin
    )
    return len(matches)


def _affects(p: PackageRow, affected: dict[str, object]) -> str | None:
    """The fixing version ("" when none is known) if `affected` covers `p`, else None."""
    try:
        scheme = Kind(p.version_format).scheme
    except ValueError:
        return None
    # A distribution's ranges are in its source package's versions (a binNMU's differ).
    version = p.source_version or p.version
    try:
        verdict = evaluate(scheme, version, affected)
    except VersionError:
        return None
    return (verdict.fixed or "") if verdict.affected else None


def queue_backfill(db: Db, limit: int) -> int:
    """Queue the indexing of up to `limit` live manifests that have no index by this indexer,
    and drop up to `limit` indexes of digests no repository holds any more."""
    store.prune(db, limit)
    digests = store.digests_to_index(db, INDEXER_VERSION, limit)
    for digest in digests:
        store.enqueue_index(db, digest)
    return len(digests)


# Quay's report ------------------------------------------------------------------------------------

_CVE = re.compile(r"CVE-\d{4}-\d{4,7}")


async def manifest_security(
    database: Database, repository_id: int, digest: str, *, enabled: bool
) -> dict[str, Any]:
    """getRepoManifestSecurity's answer for a manifest of a repository, in Quay's shape: a status
    (`queued`, `scanned`, `failed`, `unsupported`) and, once scanned, `data.Layer.Features`.
    Raises ManifestNotFound when the repository holds no such manifest."""
    await database.read(manifests.get, repository_id, digest)
    if not enabled:
        return {"status": store.UNSUPPORTED, "data": None}
    found = await database.read(store.report, digest)
    if found is None:
        return {"status": store.QUEUED, "data": None}
    if found.index.status != store.SCANNED:
        return {"status": found.index.status, "data": None}
    return {"status": store.SCANNED, "data": security_information(found)}


def security_information(report: store.Report) -> dict[str, Any]:
    """Quay's SecurityInformation (`{"Layer": {...}}`) for a scanned index. Where Quay's Clair v4
    model leaves a field empty and Clair v2 filled it (VersionFormat, NamespaceName), Wharf fills
    it; CVEIds come from the record's id and aliases as well as its links."""
    distribution = report.index.distribution or {}
    features = []
    for sp in report.packages:
        p = sp.package
        vulns = report.vulnerabilities.get(sp.id, [])
        features.append(
            {
                "Name": p.name,
                "VersionFormat": p.version_format,
                "NamespaceName": p.namespace,
                "AddedBy": p.added_by,
                "Version": p.version,
                "BaseScores": [v.score for v in vulns if _cvss3(v) and v.score is not None],
                "CVEIds": sorted(
                    {c for v in vulns for c in _CVE.findall(" ".join((v.osv_id, *v.aliases, *v.links)))}
                ),
                "Vulnerabilities": [_vulnerability(v, p, distribution) for v in vulns],
            }
        )
    return {
        "Layer": {
            "Name": report.index.digest,
            "ParentName": "",
            "NamespaceName": "",
            "IndexedByVersion": report.index.indexer_version,
            "Features": features,
        }
    }


def _cvss3(v: store.FoundVulnerability) -> bool:
    return bool(v.vector and v.vector.startswith("CVSS:3."))


def _vulnerability(
    v: store.FoundVulnerability, p: PackageRow, distribution: dict[str, str]
) -> dict[str, Any]:
    os_package = bool(p.namespace)
    links = list(v.links) or [f"https://osv.dev/vulnerability/{v.osv_id}"]
    return {
        "Severity": v.severity,
        "NamespaceName": v.ecosystem,
        "Link": " ".join(links),
        "FixedBy": v.fixed_by,
        "Description": v.details or v.summary,
        "Name": v.osv_id,
        "Metadata": {
            "UpdatedBy": f"osv/{v.ecosystem}",
            "RepoName": None,
            "RepoLink": None,
            "DistroName": distribution.get("id") if os_package else None,
            "DistroVersion": distribution.get("version_id") if os_package else None,
            "NVD": {
                "CVSSv3": {
                    "Vectors": v.vector if _cvss3(v) else "",
                    "Score": v.score if _cvss3(v) else "",
                }
            },
        },
    }
