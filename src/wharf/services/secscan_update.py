"""Importing OSV vulnerability data (a zip of OSV JSON records, as osv.dev publishes one per
ecosystem, or a directory of them) into the vulnerability store, then re-matching the stored
indexes it concerns without reading any layer (issue 16: `wharf secscan update --from PATH`).

Only records whose `modified` differs from the stored one are written, so importing the same
archive again costs a read and a lookup per record; only packages named by what changed are
re-matched. Records are read one at a time, each capped, in batches of one transaction each.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from wharf.config import Settings
from wharf.core import secscan as store
from wharf.core.secscan import AffectedRow, VulnerabilityRow
from wharf.db.engine import Database, Db
from wharf.integrations import outbound
from wharf.secscan import ecosystems, severity
from wharf.services.secscan import match_packages

RECORD_BYTES: Final = 16 << 20
"""An OSV record larger than this is skipped: real ones are a few kilobytes."""
BATCH: Final = 500
REMATCH_KEYS: Final = 200
"""Package names re-matched per transaction."""
MAX_DOWNLOAD_BYTES: Final = 4 << 30
"""An archive larger than this is refused (osv.dev's largest are a few hundred MiB)."""


class SourceError(Exception):
    """A source that cannot be read at all (missing, not a zip or a directory)."""


@dataclass(slots=True)
class UpdateResult:
    source: str
    read: int = 0
    imported: int = 0
    unchanged: int = 0
    skipped: int = 0
    """Records that are not OSV (no id or modified, bad JSON, oversized)."""
    packages_rematched: int = 0
    matches: int = 0
    """Matches of the re-matched packages after the update."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[int], None]
"""Told how many records were read so far, after each batch."""


def count_records(path: Path) -> int:
    """How many record files a source holds (for a progress bar)."""
    if path.is_dir():
        return sum(1 for _ in path.rglob("*.json"))
    with _open_zip(path) as archive:
        return sum(1 for i in archive.infolist() if _is_record(i))


def records(path: Path) -> Iterator[dict[str, Any] | None]:
    """The records of a source, one at a time; None for a file that is not a usable record."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            if file.stat().st_size > RECORD_BYTES:
                yield None
                continue
            yield _parse(file.read_bytes())
        return
    with _open_zip(path) as archive:
        for info in archive.infolist():
            if not _is_record(info):
                continue
            if info.file_size > RECORD_BYTES:
                yield None
                continue
            with archive.open(info) as member:
                # The declared size is the archive's word: read one byte past it to be sure.
                yield _parse(member.read(RECORD_BYTES + 1))


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise SourceError(f"{path} does not exist")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise SourceError(f"{path} is neither a directory nor a zip of OSV records") from None


def _is_record(info: zipfile.ZipInfo) -> bool:
    return not info.is_dir() and info.filename.endswith(".json")


def _parse(data: bytes) -> dict[str, Any] | None:
    if len(data) > RECORD_BYTES:
        return None
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    if not isinstance(record.get("modified"), str):
        return None
    return record


def to_row(record: Mapping[str, Any], source: str) -> VulnerabilityRow:
    """An OSV record as the store keeps it: its severity on Quay's scale, its `affected` entries
    keyed by the ecosystem and name packages are matched under. A withdrawn record affects
    nothing any more."""
    rating = severity.rate(record)
    affected: list[AffectedRow] = []
    if not record.get("withdrawn"):
        for entry in _dicts(record.get("affected")):
            package = entry.get("package")
            if not isinstance(package, Mapping):
                continue
            name, ecosystem = package.get("name"), package.get("ecosystem")
            if isinstance(name, str) and isinstance(ecosystem, str) and name and ecosystem:
                eco = ecosystems.ecosystem(ecosystem)
                affected.append(AffectedRow(eco, ecosystems.normalized(eco, name), dict(entry)))
    links = tuple(str(r["url"]) for r in _dicts(record.get("references")) if isinstance(r.get("url"), str))
    aliases = record.get("aliases")
    return VulnerabilityRow(
        osv_id=str(record["id"]),
        modified=str(record["modified"]),
        severity=rating.severity.value,
        source=source,
        aliases=tuple(str(a) for a in aliases) if isinstance(aliases, list) else (),
        summary=str(record.get("summary") or ""),
        details=str(record.get("details") or ""),
        links=links,
        score=rating.score,
        vector=rating.vector,
        affected=tuple(affected),
    )


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def update(
    database: Database,
    path: Path,
    progress: Progress | None = None,
    *,
    source: str | None = None,
    origin: str | None = None,
) -> UpdateResult:
    """Import the records of `path` that changed, then re-match what they name. Synchronous (the
    CLI's, or a job's through a thread); each batch is its own transaction, so an interrupted
    import keeps what it wrote, and running it again finishes it. `source` names where the
    records came from (a URL they were downloaded from), `path` by default; `origin` is the
    registry's public address, for the links of the `vulnerability_found` events the re-match
    fires."""
    source = source or str(path)
    result = UpdateResult(source)
    touched: set[tuple[str, str]] = set()
    batch: list[dict[str, Any]] = []
    for record in records(path):
        result.read += 1
        if record is None:
            result.skipped += 1
        else:
            batch.append(record)
        if len(batch) >= BATCH:
            touched |= _import(database, batch, source, result)
            batch = []
            if progress is not None:
                progress(result.read)
    if batch:
        touched |= _import(database, batch, source, result)
    if progress is not None:
        progress(result.read)
    keys = sorted(touched)
    for start in range(0, len(keys), REMATCH_KEYS):
        chunk = set(keys[start : start + REMATCH_KEYS])
        packages, matches = database.run_write(_rematch, chunk, origin)
        result.packages_rematched += packages
        result.matches += matches
    return result


def _import(
    database: Database, batch: list[dict[str, Any]], source: str, result: UpdateResult
) -> set[tuple[str, str]]:
    touched, imported = database.run_write(_import_batch, batch, source)
    result.imported += imported
    result.unchanged += len(batch) - imported
    return touched


def _import_batch(db: Db, batch: list[dict[str, Any]], source: str) -> tuple[set[tuple[str, str]], int]:
    # The last record of an id wins when a source repeats one.
    by_id = {str(r["id"]): r for r in batch}
    known = store.modified_of(db, list(by_id))
    touched: set[tuple[str, str]] = set()
    imported = 0
    for osv_id, record in by_id.items():
        if known.get(osv_id) != record["modified"]:
            touched |= store.store_vulnerability(db, to_row(record, source))
            imported += 1
    return touched, imported


def _rematch(db: Db, keys: set[tuple[str, str]], origin: str | None) -> tuple[int, int]:
    packages = store.packages_named(db, keys)
    return len(packages), match_packages(db, packages, origin)


# Configured sources ------------------------------------------------------------------------------


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


SourceFailure = (SourceError, outbound.OutboundFailed, outbound.OutboundRefused, OSError)
"""What updating one source may fail with: recorded, and the other sources still updated."""


async def update_source(
    database: Database, settings: Settings, source: str, progress: Progress | None = None
) -> UpdateResult | None:
    """Update from one SECURITY_SCANNER_VULN_SOURCES entry and record how it went (`wharf secscan
    status` shows it). A URL is downloaded through the outbound guard, only when it changed
    since its last success (ETag, Last-Modified), into a temporary file, then imported; a local
    path is imported. Returns None when the URL had not changed. Raises one of SourceFailure
    after recording it."""
    try:
        if is_url(source):
            found = await _download_and_import(database, settings, source, progress)
        else:
            local = await asyncio.to_thread(
                update, database, Path(source), progress, origin=settings.public_origin
            )
            found = local, None, None
    except SourceFailure as e:
        await database.write(store.record_source, source, error=str(e) or type(e).__name__)
        raise
    result, etag, last_modified = found
    imported = result.imported if result is not None else 0
    await database.write(
        store.record_source, source, imported=imported, etag=etag, last_modified=last_modified
    )
    return result


async def _download_and_import(
    database: Database, settings: Settings, url: str, progress: Progress | None
) -> tuple[UpdateResult | None, str | None, str | None]:
    known = await database.read(store.get_source, url)
    etag = known.etag if known is not None and known.last_success_ms is not None else None
    last_modified = known.last_modified if known is not None and known.last_success_ms is not None else None
    with tempfile.TemporaryDirectory(prefix="wharf-osv-") as tmp:
        path = Path(tmp) / "osv.zip"
        got = await outbound.download(
            url, settings, path, max_bytes=MAX_DOWNLOAD_BYTES, etag=etag, last_modified=last_modified
        )
        if not got.modified:
            return None, etag, last_modified
        result = await asyncio.to_thread(
            update, database, path, progress, source=url, origin=settings.public_origin
        )
    return result, got.etag, got.last_modified
