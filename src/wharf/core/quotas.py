"""Storage quotas: the sizes of repositories and namespaces, kept up to date as images come and
go, and the quotas (with Warning and Reject limits) superusers set on namespaces.

Sizes as Quay defines them: a repository's size is the bytes of every blob its manifests
reference, each blob once however many manifests reference it; a namespace's size likewise over
all its repositories. A manifest counts from its push until it is deleted by digest or garbage
collection removes it: deleting or moving a tag frees nothing while the manifest stays in the time
machine. An index has no blobs of its own; its children are manifests of the repository, counted
as such.

Accounting is incremental, in the transaction of the change (docs/quotas-and-retention.md):

- `quota_repository_blobs` counts, per (repository, blob), the counted manifests that reference
  the blob; `quota_namespace_blobs` counts, per (namespace, blob), the repositories whose size
  holds it. A blob enters a size when its count goes 0 -> 1 and leaves it at 1 -> 0.
- `quota_repository_sizes` and `quota_namespace_sizes` hold the running totals.

A push that brings only blobs its repository counts already (a re-tag, a rebuild on the same
layers) writes one statement here. The namespace-level part runs under a per-namespace lock
(`quota-namespace`) so that concurrent pushes read each other's committed totals: that is what
bounds how far a Reject limit can be passed (by the new bytes of one manifest). Lock order, the
same everywhere: the repository's GC lock, its blob counts (in blob order), the namespace lock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BigInteger, Insert, Table, bindparam, delete, func, insert, select, update
from sqlalchemy import cast as sql_cast

from wharf.core import audit, events
from wharf.core._sql import dialect_insert, lock
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NotFound, QuotaExceeded
from wharf.db.engine import Db
from wharf.db.models import (
    Account,
    Blob,
    Manifest,
    ManifestBlob,
    NamespaceQuota,
    QuotaLimit,
    QuotaNamespaceBlob,
    QuotaNamespaceSize,
    QuotaRepositoryBlob,
    QuotaRepositorySize,
    Repository,
)

WARNING = "Warning"
REJECT = "Reject"
TYPES = (WARNING, REJECT)


@dataclass(frozen=True, slots=True)
class Enforcement:
    """What the settings say about quotas, as values (core never reads Settings)."""

    enabled: bool
    """FEATURE_QUOTA_MANAGEMENT: limits are checked and notifications fire. Sizes are kept
    either way, so turning it on needs no backfill."""
    default_reject_bytes: int = 0
    """DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: the Reject limit of namespaces without a quota; 0 none."""


OFF = Enforcement(enabled=False)


@dataclass(frozen=True, slots=True)
class LimitRecord:
    id: int
    type: str
    percent: int


@dataclass(frozen=True, slots=True)
class QuotaRecord:
    id: int
    namespace_id: int
    limit_bytes: int
    limits: tuple[LimitRecord, ...]


def human(n: int) -> str:
    """Bytes as people read them: "10 GiB", "10.2 GiB", "512 B"."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            break
        value /= 1024
    if unit == "B":
        return f"{n} B"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """A size as people write it: "10 GiB", "500 MB", "1.5TiB", "1024" (bytes); InvalidInput else.
    KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024 (as Quay's bitmath reads them)."""
    found = _SIZE.match(text)
    if found is None:
        raise InvalidInput(f"{text[:64]!r} is not a size such as '10 GiB' or '500 MB'", field="limit")
    number, prefix, binary = found.groups()
    power = "kmgtp".index(prefix.lower()) + 1 if prefix else 0
    return int(float(number) * ((1024 if binary else 1000) ** power))


# --- accounting -----------------------------------------------------------------------------------


@functools.cache
def _count_in(dialect_name: str, table: Table, key: str) -> Insert:
    """Add one reference per row, creating the row at 1; returns (blob_id, refs) per row."""
    statement = dialect_insert(dialect_name, table).on_conflict_do_update(
        index_elements=[key, "blob_id"], set_={"refs": table.c.refs + 1}
    )
    return cast(Insert, statement.returning(table.c.blob_id, table.c.refs))


@functools.cache
def _grow(dialect_name: str, table: Table, key: str) -> Insert:
    """Add `size_bytes` to a running total, creating it; returns the new total."""
    statement = dialect_insert(dialect_name, table).on_conflict_do_update(
        index_elements=[key], set_={"size_bytes": table.c.size_bytes + bindparam("delta")}
    )
    return cast(Insert, statement.returning(*table.c))


_REPO_BLOBS = cast(Table, QuotaRepositoryBlob.__table__)
_NS_BLOBS = cast(Table, QuotaNamespaceBlob.__table__)
_REPO_SIZES = cast(Table, QuotaRepositorySize.__table__)
_NS_SIZES = cast(Table, QuotaNamespaceSize.__table__)


def add_blobs(
    db: Db,
    repository_id: int,
    namespace_id: int,
    blobs: Mapping[int, int],
    enforcement: Enforcement = OFF,
    *,
    refuse: bool = False,
    actor: audit.Actor | None = None,
) -> None:
    """Count one more manifest of the repository referencing `blobs` ({blob id: size}). With
    `refuse` (a push), raise QuotaExceeded when the namespace was already over its Reject limit
    and this adds bytes to it; the caller's transaction then rolls back."""
    if not blobs:
        return
    rows = db.execute(
        _count_in(db.dialect.name, _REPO_BLOBS, "repository_id"),
        [{"repository_id": repository_id, "blob_id": b, "refs": 1, "size": blobs[b]} for b in sorted(blobs)],
    ).all()
    new = sorted(r.blob_id for r in rows if r.refs == 1)
    if not new:
        return
    lock(db, "quota-namespace", namespace_id)
    rows = db.execute(
        _count_in(db.dialect.name, _NS_BLOBS, "namespace_id"),
        [{"namespace_id": namespace_id, "blob_id": b, "refs": 1, "size": blobs[b]} for b in new],
    ).all()
    _change_repository(db, repository_id, sum(blobs[b] for b in new))
    added = sum(blobs[r.blob_id] for r in rows if r.refs == 1)
    if added:
        _change_namespace(db, namespace_id, added, enforcement, refuse=refuse, actor=actor)


_STORED_BLOBS = (
    select(ManifestBlob.blob_id, Blob.size)
    .join(Blob, Blob.id == ManifestBlob.blob_id)
    .where(ManifestBlob.manifest_id == bindparam("manifest"))
)


def add_stored_manifest(db: Db, manifest_id: int) -> None:
    """Count a manifest that comes back (deleted by digest, then pushed or restored again)."""
    owner = db.execute(
        select(Manifest.repository_id, Repository.namespace_id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Manifest.id == manifest_id)
    ).one()
    blobs = {r.blob_id: r.size for r in db.execute(_STORED_BLOBS, {"manifest": manifest_id})}
    add_blobs(db, owner.repository_id, owner.namespace_id, blobs)


def release_manifests(db: Db, repository_id: int, manifest_ids: list[int]) -> None:
    """THE hook for removals: call it in the transaction that deletes manifests by digest or
    removes their rows (garbage collection, a future eviction), before the change. Manifests
    already deleted by digest were released then and are skipped."""
    if not manifest_ids:
        return
    counts = db.execute(
        select(ManifestBlob.blob_id, func.count())
        .join(Manifest, Manifest.id == ManifestBlob.manifest_id)
        .where(Manifest.id.in_(manifest_ids), Manifest.deleted_ms.is_(None))
        .group_by(ManifestBlob.blob_id)
        .order_by(ManifestBlob.blob_id)
    ).all()
    if not counts:
        return
    db.execute(
        update(QuotaRepositoryBlob)
        .where(
            QuotaRepositoryBlob.repository_id == repository_id,
            QuotaRepositoryBlob.blob_id == bindparam("b_id"),
        )
        .values(refs=QuotaRepositoryBlob.refs - bindparam("n")),
        [{"b_id": blob_id, "n": n} for blob_id, n in counts],
    )
    ids = [blob_id for blob_id, _ in counts]
    gone = _take_emptied(db, QuotaRepositoryBlob, QuotaRepositoryBlob.repository_id, repository_id, ids)
    if gone:
        namespace_id = db.execute(
            select(Repository.namespace_id).where(Repository.id == repository_id)
        ).scalar_one()
        _release_from_namespace(db, namespace_id, gone)
        _change_repository(db, repository_id, -sum(gone.values()))


def release_repository(db: Db, repository_id: int, namespace_id: int) -> None:
    """The repository is being deleted: what only it held leaves the namespace's size (its own
    rows go with it)."""
    lock(db, "repository-gc", repository_id)
    gone = {
        r.blob_id: r.size
        for r in db.execute(
            select(QuotaRepositoryBlob.blob_id, QuotaRepositoryBlob.size).where(
                QuotaRepositoryBlob.repository_id == repository_id, QuotaRepositoryBlob.refs > 0
            )
        )
    }
    if gone:
        _release_from_namespace(db, namespace_id, gone)


def _take_emptied(db: Db, model: Any, key: Any, key_value: int, blob_ids: list[int]) -> dict[int, int]:
    """Delete the count rows among `blob_ids` that reached zero; returns {blob id: size}."""
    where = (key == key_value, model.blob_id.in_(blob_ids), model.refs <= 0)
    gone = {r.blob_id: r.size for r in db.execute(select(model.blob_id, model.size).where(*where))}
    if gone:
        db.execute(delete(model).where(*where))
    return gone


def _release_from_namespace(db: Db, namespace_id: int, blobs: Mapping[int, int]) -> None:
    lock(db, "quota-namespace", namespace_id)
    ids = sorted(blobs)
    db.execute(
        update(QuotaNamespaceBlob)
        .where(
            QuotaNamespaceBlob.namespace_id == namespace_id, QuotaNamespaceBlob.blob_id == bindparam("b_id")
        )
        .values(refs=QuotaNamespaceBlob.refs - 1),
        [{"b_id": b} for b in ids],
    )
    gone = _take_emptied(db, QuotaNamespaceBlob, QuotaNamespaceBlob.namespace_id, namespace_id, ids)
    if gone:
        _change_namespace(db, namespace_id, -sum(gone.values()), None)


def _change_repository(db: Db, repository_id: int, delta: int) -> None:
    if delta:
        db.execute(
            _grow(db.dialect.name, _REPO_SIZES, "repository_id"),
            {"repository_id": repository_id, "size_bytes": max(delta, 0), "delta": delta},
        )


def _change_namespace(
    db: Db,
    namespace_id: int,
    delta: int,
    enforcement: Enforcement | None,
    *,
    refuse: bool = False,
    actor: audit.Actor | None = None,
) -> None:
    row = db.execute(
        _grow(db.dialect.name, _NS_SIZES, "namespace_id"),
        {"namespace_id": namespace_id, "size_bytes": max(delta, 0), "notified_percent": None, "delta": delta},
    ).one()
    if enforcement is None or not enforcement.enabled:
        if delta < 0 and row.notified_percent is not None:
            _rearm(db, namespace_id, row.size_bytes, row.notified_percent, enforcement)
        return
    state = _state(db, namespace_id, enforcement)
    before = row.size_bytes - delta
    if refuse and delta > 0 and state.reject_bytes is not None and _over(before, state.reject_bytes, state):
        raise QuotaExceeded(
            f"quota exceeded for namespace {state.namespace}: {human(before)} of "
            f"{human(state.reject_bytes)}; delete tags or ask an administrator"
        )
    _notify(db, namespace_id, row.size_bytes, row.notified_percent, state, actor)


def _rearm(db: Db, namespace_id: int, size: int, notified: int, enforcement: Enforcement | None) -> None:
    state = _state(db, namespace_id, enforcement or OFF)
    if state.limit_bytes is None:
        # No quota of its own: the notification came from the system default, which a release
        # does not know (it runs without the settings). Leave the state as it is: at worst a later
        # crossing of the default goes unannounced, but none is ever announced twice.
        return
    crossed = state.crossed(size)
    if crossed is None or crossed[0] < notified:
        db.execute(
            update(QuotaNamespaceSize)
            .where(QuotaNamespaceSize.namespace_id == namespace_id)
            .values(notified_percent=crossed[0] if crossed else None)
        )


# --- limits: what a namespace may hold -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    namespace: str
    limit_bytes: int | None
    """The quota's size (or the system default's); None without either."""
    limits: tuple[tuple[int, str], ...]
    """(percent, type) of each limit, highest percent first."""
    system_default: bool

    @property
    def reject_bytes(self) -> int | None:
        if self.limit_bytes is None:
            return None
        percents = [p for p, t in self.limits if t == REJECT]
        return self.limit_bytes * min(percents) // 100 if percents else None

    def crossed(self, size: int) -> tuple[int, str] | None:
        """The highest limit `size` is over, as (percent, type)."""
        for percent, kind in self.limits:
            assert self.limit_bytes is not None
            if _over(size, self.limit_bytes * percent // 100, self):
                return percent, kind
        return None


def _over(size: int, threshold: int, state: _State) -> bool:
    # Quay: over a limit past it; over the system default at it.
    return size >= threshold if state.system_default else size > threshold


def _state(db: Db, namespace_id: int, enforcement: Enforcement) -> _State:
    rows = db.execute(
        select(Account.name, NamespaceQuota.limit_bytes, QuotaLimit.percent, QuotaLimit.type)
        .select_from(Account)
        .outerjoin(NamespaceQuota, NamespaceQuota.namespace_id == Account.id)
        .outerjoin(QuotaLimit, QuotaLimit.quota_id == NamespaceQuota.id)
        .where(Account.id == namespace_id)
    ).all()
    name, limit_bytes = rows[0].name, rows[0].limit_bytes
    if limit_bytes is None:
        default = enforcement.default_reject_bytes
        if default > 0:
            return _State(name, default, ((100, REJECT),), True)
        return _State(name, None, (), False)
    limits = sorted(((r.percent, r.type) for r in rows if r.percent is not None), reverse=True)
    return _State(name, int(limit_bytes), tuple(limits), False)


def _notify(
    db: Db,
    namespace_id: int,
    size: int,
    notified: int | None,
    state: _State,
    actor: audit.Actor | None,
) -> None:
    """Fire quota_warning / quota_error when the size rises over a limit it was not over at the
    last notification; re-arm when it falls back under."""
    crossed = state.crossed(size)
    percent = crossed[0] if crossed else None
    if percent == notified:
        return
    db.execute(
        update(QuotaNamespaceSize)
        .where(QuotaNamespaceSize.namespace_id == namespace_id)
        .values(notified_percent=percent)
    )
    if crossed is None or (notified is not None and crossed[0] < notified):
        return
    assert state.limit_bytes is not None
    event = "quota_error" if crossed[1] == REJECT else "quota_warning"
    data = events.namespace_data(
        actor.origin if actor else None,
        state.namespace,
        threshold_percent=crossed[0],
        usage_bytes=size,
        limit_bytes=state.limit_bytes,
        usage_percent=round(size * 100 / state.limit_bytes, 1),
        usage_bytes_formatted=human(size),
        limit_bytes_formatted=human(state.limit_bytes),
    )
    # Imported here: core.notifications imports core.repositories, whose delete_repo calls this module.
    from wharf.core import inbox, notifications

    notifications.fire(db, event, data, actor, namespace_id=namespace_id)
    # And the bell, as Quay tells the namespace: a user, or an organization's admins (core/inbox.py).
    inbox.add(db, [namespace_id], event, data)


def overage(db: Db, namespace_id: int, enforcement: Enforcement) -> int:
    """Bytes the namespace holds above its Reject limit (0 when under, or without one): what a
    proxy-cache organization must evict, least recently pulled first, to take pushes again."""
    if not enforcement.enabled:
        return 0
    reject = _state(db, namespace_id, enforcement).reject_bytes
    return 0 if reject is None else max(0, namespace_size(db, namespace_id) - reject)


def reevaluate(db: Db, namespace_id: int, enforcement: Enforcement, actor: audit.Actor | None) -> None:
    """After a quota or limit changed: notify (once) if the namespace is now over a new limit."""
    if not enforcement.enabled:
        return
    row = db.execute(
        select(QuotaNamespaceSize.size_bytes, QuotaNamespaceSize.notified_percent).where(
            QuotaNamespaceSize.namespace_id == namespace_id
        )
    ).first()
    if row is not None:
        _notify(
            db,
            namespace_id,
            row.size_bytes,
            row.notified_percent,
            _state(db, namespace_id, enforcement),
            actor,
        )


# --- reading ---------------------------------------------------------------------------------------


def reject_capacity(db: Db, namespace_id: int, enforcement: Enforcement) -> int | None:
    """The most bytes the namespace may hold without being over its Reject limit (its quota's, or
    the system default); None when there is none or quotas are not enforced."""
    if not enforcement.enabled:
        return None
    state = _state(db, namespace_id, enforcement)
    reject = state.reject_bytes
    if reject is None:
        return None
    return reject - 1 if state.system_default else reject  # as `_over` reads each


def namespace_size(db: Db, namespace_id: int) -> int:
    size = db.execute(
        select(QuotaNamespaceSize.size_bytes).where(QuotaNamespaceSize.namespace_id == namespace_id)
    ).scalar()
    return int(size or 0)


_REPOSITORY_SIZES = select(QuotaRepositorySize.repository_id, QuotaRepositorySize.size_bytes).where(
    QuotaRepositorySize.repository_id.in_(bindparam("repos", expanding=True))
)


def repository_sizes(db: Db, repository_ids: list[int]) -> dict[int, int]:
    """The stored sizes of these repositories (one indexed read); those with none are absent."""
    if not repository_ids:
        return {}
    return {r[0]: int(r[1]) for r in db.execute(_REPOSITORY_SIZES, {"repos": repository_ids}) if r[1]}


def configured(db: Db, namespace_id: int, default_reject_bytes: int) -> int | None:
    """The namespace's quota in bytes, or the system default, or None (Quay's configured_quota)."""
    limit = db.execute(
        select(NamespaceQuota.limit_bytes).where(NamespaceQuota.namespace_id == namespace_id)
    ).scalar()
    if limit is not None:
        return int(limit)
    return default_reject_bytes or None


def configured_by_name(db: Db, namespaces: list[str], default_reject_bytes: int) -> dict[str, int | None]:
    """`configured` of each namespace named (one read for a page of repositories)."""
    if not namespaces:
        return {}
    rows = db.execute(
        select(Account.name, NamespaceQuota.limit_bytes)
        .join(NamespaceQuota, NamespaceQuota.namespace_id == Account.id)
        .where(Account.name.in_(set(namespaces)))
    )
    found: dict[str, int | None] = {name: default_reject_bytes or None for name in namespaces}
    found.update({r[0]: int(r[1]) for r in rows})
    return found


@dataclass(frozen=True, slots=True)
class Usage:
    namespace: str
    kind: str
    size_bytes: int
    limit_bytes: int | None


def usage_by_namespace(db: Db, *, limit: int = 100, offset: int = 0) -> list[Usage]:
    """Namespaces (users and organizations) by stored size, largest first, with their quotas."""
    size = func.coalesce(QuotaNamespaceSize.size_bytes, 0)
    rows = db.execute(
        select(Account.name, Account.kind, size, NamespaceQuota.limit_bytes)
        .outerjoin(QuotaNamespaceSize, QuotaNamespaceSize.namespace_id == Account.id)
        .outerjoin(NamespaceQuota, NamespaceQuota.namespace_id == Account.id)
        .where(Account.kind.in_(("user", "org")))
        .order_by(size.desc(), Account.name)
        .offset(offset)
        .limit(limit)
    ).all()
    return [Usage(r[0], r[1], int(r[2]), None if r[3] is None else int(r[3])) for r in rows]


def registry_size(db: Db) -> int:
    """Bytes of every stored blob, each once (Quay's registry size)."""
    total = db.execute(select(sql_cast(func.coalesce(func.sum(Blob.size), 0), BigInteger))).scalar_one()
    return int(total)


# --- quotas and limits: the superuser's settings ------------------------------------------------


def quota_of(db: Db, namespace_id: int) -> QuotaRecord | None:
    row = db.execute(
        select(NamespaceQuota.id, NamespaceQuota.limit_bytes).where(
            NamespaceQuota.namespace_id == namespace_id
        )
    ).first()
    if row is None:
        return None
    limits = db.execute(
        select(QuotaLimit.id, QuotaLimit.type, QuotaLimit.percent)
        .where(QuotaLimit.quota_id == row.id)
        .order_by(QuotaLimit.id)
    ).all()
    return QuotaRecord(row.id, namespace_id, int(row.limit_bytes), tuple(LimitRecord(*r) for r in limits))


def get(db: Db, namespace_id: int, quota_id: int) -> QuotaRecord:
    found = quota_of(db, namespace_id)
    if found is None or found.id != quota_id:
        raise NotFound(f"no quota {quota_id} in this namespace")
    return found


def _check_bytes(limit_bytes: int) -> None:
    # PostgreSQL's BIGINT holds 8 EiB; Quay refuses what its database cannot store the same way.
    if not 0 < limit_bytes < 2**63:
        raise InvalidInput(f"Invalid quota size limit value: '{limit_bytes}'", field="limit_bytes")


def create(
    db: Db,
    namespace_id: int,
    namespace: str,
    limit_bytes: int,
    actor: audit.Actor | None,
    enforcement: Enforcement,
) -> QuotaRecord:
    _check_bytes(limit_bytes)
    lock(db, "quota-namespace", namespace_id)
    if quota_of(db, namespace_id) is not None:
        raise AlreadyExists(f"Organization quota for '{namespace}' already exists")
    db.execute(
        insert(NamespaceQuota).values(namespace_id=namespace_id, limit_bytes=limit_bytes, created_ms=now_ms())
    )
    audit.record(
        db, "org_create_quota", actor, namespace_id=namespace_id, namespace=namespace, limit_bytes=limit_bytes
    )
    reevaluate(db, namespace_id, enforcement, actor)
    found = quota_of(db, namespace_id)
    assert found is not None
    return found


def change(
    db: Db,
    namespace_id: int,
    namespace: str,
    quota_id: int,
    limit_bytes: int,
    actor: audit.Actor | None,
    enforcement: Enforcement,
) -> QuotaRecord:
    _check_bytes(limit_bytes)
    get(db, namespace_id, quota_id)
    db.execute(update(NamespaceQuota).where(NamespaceQuota.id == quota_id).values(limit_bytes=limit_bytes))
    audit.record(
        db, "org_change_quota", actor, namespace_id=namespace_id, namespace=namespace, limit_bytes=limit_bytes
    )
    reevaluate(db, namespace_id, enforcement, actor)
    return get(db, namespace_id, quota_id)


def remove(db: Db, namespace_id: int, namespace: str, quota_id: int, actor: audit.Actor | None) -> None:
    get(db, namespace_id, quota_id)
    db.execute(delete(QuotaLimit).where(QuotaLimit.quota_id == quota_id))
    db.execute(delete(NamespaceQuota).where(NamespaceQuota.id == quota_id))
    db.execute(
        update(QuotaNamespaceSize)
        .where(QuotaNamespaceSize.namespace_id == namespace_id)
        .values(notified_percent=None)
    )
    audit.record(db, "org_delete_quota", actor, namespace_id=namespace_id, namespace=namespace)


def _limit_type(value: str) -> str:
    for t in TYPES:
        if value.lower() == t.lower():
            return t
    raise InvalidInput(f"Quota type must be one of [{WARNING}, {REJECT}]", field="type")


def _check_percent(percent: int) -> None:
    if not 0 < percent <= 100:
        raise InvalidInput("Quota limit threshold must be between 1 and 100", field="threshold_percent")


def get_limit(quota: QuotaRecord, limit_id: int) -> LimitRecord:
    for limit in quota.limits:
        if limit.id == limit_id:
            return limit
    raise NotFound(f"no limit {limit_id} in this quota")


def _refuse_duplicate(quota: QuotaRecord, kind: str, percent: int, except_id: int | None = None) -> None:
    others = [lim for lim in quota.limits if lim.id != except_id]
    if any(lim.type == kind and lim.percent == percent for lim in others):
        raise AlreadyExists("Quota limit already exists")
    if kind == REJECT and any(lim.type == REJECT for lim in others):
        raise AlreadyExists("Only one quota limit of type 'Reject' allowed.")


def create_limit(
    db: Db,
    namespace: str,
    quota: QuotaRecord,
    kind: str,
    percent: int,
    actor: audit.Actor | None,
    enforcement: Enforcement,
) -> LimitRecord:
    kind = _limit_type(kind)
    _check_percent(percent)
    _refuse_duplicate(quota, kind, percent)
    new_id = db.execute(
        insert(QuotaLimit).values(quota_id=quota.id, type=kind, percent=percent).returning(QuotaLimit.id)
    ).scalar_one()
    audit.record(
        db,
        "org_create_quota_limit",
        actor,
        namespace_id=quota.namespace_id,
        namespace=namespace,
        type=kind,
        threshold_percent=percent,
    )
    reevaluate(db, quota.namespace_id, enforcement, actor)
    return LimitRecord(int(new_id), kind, percent)


def change_limit(
    db: Db,
    namespace: str,
    quota: QuotaRecord,
    limit_id: int,
    kind: str | None,
    percent: int | None,
    actor: audit.Actor | None,
    enforcement: Enforcement,
) -> None:
    current = get_limit(quota, limit_id)
    new_kind = _limit_type(kind) if kind is not None else current.type
    new_percent = percent if percent is not None else current.percent
    _check_percent(new_percent)
    _refuse_duplicate(quota, new_kind, new_percent, except_id=limit_id)
    db.execute(update(QuotaLimit).where(QuotaLimit.id == limit_id).values(type=new_kind, percent=new_percent))
    audit.record(
        db,
        "org_change_quota_limit",
        actor,
        namespace_id=quota.namespace_id,
        namespace=namespace,
        type=new_kind,
        threshold_percent=new_percent,
    )
    reevaluate(db, quota.namespace_id, enforcement, actor)


def remove_limit(
    db: Db, namespace: str, quota: QuotaRecord, limit_id: int, actor: audit.Actor | None
) -> None:
    current = get_limit(quota, limit_id)
    db.execute(delete(QuotaLimit).where(QuotaLimit.id == limit_id))
    audit.record(
        db,
        "org_delete_quota_limit",
        actor,
        namespace_id=quota.namespace_id,
        namespace=namespace,
        type=current.type,
        threshold_percent=current.percent,
    )
