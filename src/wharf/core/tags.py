"""Tags with history: a change closes the live row and opens a new one; nothing is rewritten.

A tag row is one lifetime of a tag. It is *open* while `lifetime_end_ms` is NULL, and *alive*
while it is open and its scheduled expiry (`expires_ms`, from the API or the `quay.expires-after`
label) has not passed. Closed rows are the history: within the namespace's time-machine window a
tag can be restored to any manifest it pointed at; after it, garbage collection removes the rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    aggregate_order_by,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql import Select

from wharf.core import _freeze
from wharf.core._sql import column, first, lock
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, ManifestNotFound, NotFound, TagImmutable
from wharf.db.engine import Db
from wharf.db.models import Blob, Manifest, ManifestBlob, Repository, Tag

OPEN = Tag.lifetime_end_ms.is_(None)
# Alive at the time bound to the `now` parameter; statements using it must pass {"now": now_ms()}.
ALIVE = and_(OPEN, or_(Tag.expires_ms.is_(None), Tag.expires_ms > bindparam("now")))


def alive_at(now: int) -> ColumnElement[bool]:
    return and_(OPEN, or_(Tag.expires_ms.is_(None), Tag.expires_ms > now))


# What a tag's image weighs: the bytes of the blobs its manifest references (config and layers);
# NULL for an index. SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so it reads as an int.
MANIFEST_SIZE = (
    select(cast(func.sum(Blob.size), BigInteger))
    .select_from(ManifestBlob)
    .join(Blob, Blob.id == ManifestBlob.blob_id)
    .where(ManifestBlob.manifest_id == Tag.manifest_id)
    .correlate(Tag)
    .scalar_subquery()
)

_OPEN_TAG = select(Tag.id, Tag.manifest_id, Tag.expires_ms, Tag.immutable).where(
    Tag.repository_id == bindparam("repo"), Tag.name == bindparam("name"), OPEN
)


# What `point` reads before it moves a tag, in one statement: the open row (its columns NULL when
# there is none) and whether an immutability policy may freeze the tag (core/_freeze.py). Read from
# the repository's row, which always exists, so that a new tag still gives one row; a caller may
# read one more column of that row with it (`point_reading`).
def _pointing(extra: ColumnElement[Any] | None) -> Select[Any]:
    columns = (Tag.id, Tag.manifest_id, Tag.expires_ms, Tag.immutable, _freeze.ANY_POLICY)
    return (
        select(*columns, *([extra] if extra is not None else []))
        .select_from(Repository)
        .outerjoin(Tag, and_(Tag.repository_id == Repository.id, Tag.name == bindparam("name"), OPEN))
        .where(Repository.id == bindparam("repo"))
    )


_POINTING = _pointing(None)
_pointing_with = functools.cache(_pointing)  # built once per extra column (module constants)
_END = update(Tag).where(Tag.id == bindparam("tag_id")).values(lifetime_end_ms=bindparam("end"))
_INSERT = insert(Tag)


def _end_of(expires_ms: int | None, now: int) -> int:
    """When an open row ends: now, or earlier if its expiry already passed (so history stays true)."""
    return min(now, expires_ms) if expires_ms is not None else now


def _check_mutable(row: object, name: str) -> None:
    if row is not None and getattr(row, "immutable", False):
        _refuse_immutable(name)


def _refuse_immutable(name: str) -> None:
    raise TagImmutable(
        f"tag {name!r} is immutable: it cannot be moved, deleted or expired; push under another "
        "tag, or ask an administrator of the repository to make it mutable"
    )


def point(
    db: Db,
    repository_id: int,
    name: str,
    manifest_id: int,
    *,
    expires_ms: int | None = None,
    reversion: bool = False,
    gc_locked: bool = False,
) -> bool:
    """Point tag `name` at a manifest; False when it already pointed there (alive, same expiry).
    `gc_locked`: the transaction holds the repository's shared GC lock already (a manifest push
    takes it first), so it is not asked for twice."""
    changed, _ = point_reading(
        db,
        repository_id,
        name,
        manifest_id,
        None,
        expires_ms=expires_ms,
        reversion=reversion,
        gc_locked=gc_locked,
    )
    return changed


def point_reading(
    db: Db,
    repository_id: int,
    name: str,
    manifest_id: int,
    extra: ColumnElement[Any] | None,
    *,
    expires_ms: int | None = None,
    reversion: bool = False,
    gc_locked: bool = False,
) -> tuple[bool, Any]:
    """`point`, and the value of `extra` (a column correlated to the repository's row, a module
    constant) read by the statement that finds the tag: what a manifest push would otherwise
    ask the repository in a statement of its own (whether it has notifications to fire)."""
    if not gc_locked:  # the manifest must survive until commit
        lock(db, "repository-gc", repository_id, shared=True)
    lock(db, "tag", repository_id, name)
    now = now_ms()
    statement = _POINTING if extra is None else _pointing_with(extra)
    found = first(db, statement, {"repo": repository_id, "name": name})  # every push: core/_sql.py
    assert found is not None, "the repository of a tag being pointed exists in this transaction"
    tag_id, live_manifest, live_expires, live_immutable, any_policy, *rest = found
    extra_value = rest[0] if rest else None
    expired = tag_id is not None and live_expires is not None and live_expires <= now
    if tag_id is not None and not expired:
        # Already there: nothing to do (an immutable tag keeps no expiry, so a label's is moot).
        if live_manifest == manifest_id and (expires_ms is None or live_immutable):
            return False, extra_value
        if live_immutable:
            _refuse_immutable(name)
    if tag_id is not None:
        db.execute(_END, {"tag_id": tag_id, "end": _end_of(live_expires, now)})
    # An immutability policy freezes the tag as it lands; an immutable tag never expires (nothing
    # may delete it), so a `quay.expires-after` label does not schedule an end for it.
    immutable = bool(any_policy) and _freeze.frozen(db, repository_id, name)
    if immutable:
        expires_ms = None
        _freeze.record(db, repository_id, name)
    db.execute(
        _INSERT,
        {
            "repository_id": repository_id,
            "name": name,
            "manifest_id": manifest_id,
            "lifetime_start_ms": now,
            "lifetime_end_ms": None,
            "expires_ms": expires_ms,
            "immutable": immutable,
            "hidden": False,
            "reversion": reversion,
        },
    )
    return True, extra_value


def _alive_row(db: Db, repository_id: int, name: str) -> Any:
    row = db.execute(_OPEN_TAG, {"repo": repository_id, "name": name}).first()
    if row is None or (row.expires_ms is not None and row.expires_ms <= now_ms()):
        return None
    return row


def remove(db: Db, repository_id: int, name: str) -> int:
    """End the live lifetime of tag `name`; returns the manifest id it pointed at."""
    lock(db, "tag", repository_id, name)
    live = _alive_row(db, repository_id, name)
    if live is None:
        raise ManifestNotFound(f"tag {name!r} does not exist")
    _check_mutable(live, name)
    db.execute(_END, {"tag_id": live.id, "end": now_ms()})
    return int(live.manifest_id)


def remove_all_for(db: Db, repository_id: int, manifest_id: int) -> list[str]:
    """End every open tag pointing at a manifest; returns their names. Refused if one is immutable."""
    rows = db.execute(
        select(Tag.id, Tag.name, Tag.immutable, Tag.expires_ms).where(
            Tag.repository_id == repository_id, Tag.manifest_id == manifest_id, OPEN
        )
    ).all()
    for r in rows:
        _check_mutable(r, r.name)
    now = now_ms()
    for r in rows:
        db.execute(_END, {"tag_id": r.id, "end": _end_of(r.expires_ms, now)})
    return [r.name for r in rows if not r.name.startswith("$")]


def set_expiration(db: Db, repository_id: int, name: str, expires_ms: int | None) -> int:
    """Schedule (or clear, with None) the live tag's expiry; returns the manifest id."""
    lock(db, "tag", repository_id, name)
    live = _alive_row(db, repository_id, name)
    if live is None:
        raise NotFound(f"tag {name!r} does not exist")
    _check_mutable(live, name)
    if expires_ms is not None and expires_ms <= now_ms():
        raise InvalidInput("the expiration must be in the future", field="expiration")
    db.execute(update(Tag).where(Tag.id == live.id).values(expires_ms=expires_ms))
    return int(live.manifest_id)


def set_immutable(db: Db, repository_id: int, name: str, immutable: bool) -> int:
    """Freeze or thaw the live tag. Freezing drops a scheduled expiry: an immutable tag is never
    deleted, by expiry no more than by hand or by auto-prune."""
    lock(db, "tag", repository_id, name)
    live = _alive_row(db, repository_id, name)
    if live is None:
        raise NotFound(f"tag {name!r} does not exist")
    values: dict[str, Any] = {"immutable": immutable}
    if immutable:
        values["expires_ms"] = None
    db.execute(update(Tag).where(Tag.id == live.id).values(**values))
    return int(live.manifest_id)


def restore(db: Db, repository_id: int, name: str, manifest_id: int, window_ms: int) -> None:
    """Point the tag back at a manifest it pointed at within the time-machine window."""
    since = now_ms() - window_ms
    found = db.execute(
        select(Tag.id)
        .where(
            Tag.repository_id == repository_id,
            Tag.name == name,
            Tag.manifest_id == manifest_id,
            or_(OPEN, Tag.lifetime_end_ms >= since),
            Tag.hidden.is_(False),
        )
        .limit(1)
    ).first()
    if found is None:
        raise NotFound(
            f"tag {name!r} did not point at this manifest within the time-machine window "
            f"({window_ms // 1000} s); it cannot be restored"
        )
    point(db, repository_id, name, manifest_id, reversion=True)


def forget(db: Db, repository_id: int, name: str, manifest_id: int, *, include_alive: bool) -> int:
    """Remove the tag's past lifetimes on a manifest from the time machine (they can no longer be
    restored, and garbage collection may reclaim the manifest). With `include_alive`, the live tag
    on that manifest is ended first. Returns the number of lifetimes removed."""
    lock(db, "tag", repository_id, name)
    if include_alive:
        live = _alive_row(db, repository_id, name)
        if live is not None and live.manifest_id == manifest_id:
            _check_mutable(live, name)
            db.execute(_END, {"tag_id": live.id, "end": now_ms()})
    result = db.execute(
        delete(Tag).where(
            Tag.repository_id == repository_id,
            Tag.name == name,
            Tag.manifest_id == manifest_id,
            Tag.lifetime_end_ms.is_not(None),
        )
    )
    return int(result.rowcount)


def end_expired(db: Db, now: int) -> int:
    """Close the rows whose scheduled expiry passed (they already read as gone); returns how many."""
    result = db.execute(
        update(Tag)
        .where(OPEN, Tag.expires_ms.is_not(None), Tag.expires_ms <= now)
        .values(lifetime_end_ms=Tag.expires_ms)
    )
    return int(result.rowcount)


_NAMES = (
    select(Tag.name)
    .where(
        Tag.repository_id == bindparam("repo"), ALIVE, Tag.hidden.is_(False), Tag.name > bindparam("after")
    )
    .order_by(Tag.name)
    .limit(bindparam("limit"))
)

# A page of names read as one string and a count, not as a row per name: the driver then builds
# one object instead of a tuple and a string per name (a 1,000-name page: about 200 µs of CPU
# instead of 300 on SQLite). The page is still `_NAMES`, read in order from the covering index
# `ix_tags_live_names`, and the aggregate keeps that order: SQLite feeds an aggregate the rows of
# its subquery as the subquery yields them (3.40 has no ORDER BY inside an aggregate; a test checks
# the plan reads the index with no sort and that the order holds), PostgreSQL is told to
# (`string_agg(... ORDER BY name)`). The tag grammar has no comma; a name that holds one anyway
# makes more pieces than the count, and the page is then read row by row. The earliest expiry
# among the page's names, from the same index, says until when the page stays as it is read
# (core/tag_list_cache.py).
_SEPARATOR = ","
_PAGE = _NAMES.add_columns(Tag.expires_ms).subquery("page")
_NAMES_JOINED_SQLITE = select(
    func.group_concat(_PAGE.c.name, literal_column("','")), func.count(), func.min(_PAGE.c.expires_ms)
)
_NAMES_JOINED = select(
    aggregate_order_by(func.string_agg(_PAGE.c.name, literal_column("','")), _PAGE.c.name),
    func.count(),
    func.min(_PAGE.c.expires_ms),
)


@dataclass(slots=True)
class NamePage:
    """A page of tag names: as the database joined them (`joined`, names separated by commas)
    when that string splits back into exactly the names, else one by one (`rows`). The tag list
    can then be written straight from the joined string (registry/listing.py). `expires_ms`: the
    earliest scheduled expiry among the names (None: none of them has one); until then, and while
    no tag of the repository changes, the page stays as it was read."""

    joined: str | None
    rows: list[str]
    count: int
    expires_ms: int | None = None
    written: tuple[int, bytes, str | None] | None = field(default=None, compare=False, repr=False)
    """How the /v2 tag list wrote the page for a page size n: (n, the names as the inside of a JSON
    array, or b"" when they need the JSON encoder; the last name listed when more follow). Set by
    registry/listing.py and kept with the page, so that a page served again from memory
    (core/tag_list_cache.py) is not quoted again."""

    def names(self) -> list[str]:
        """A new list each time: a page may be kept and served again (core/tag_list_cache.py)."""
        return self.joined.split(_SEPARATOR) if self.joined is not None else list(self.rows)


def page_query(
    dialect_name: str, repository_id: int, *, after: str | None, limit: int, now: int | None = None
) -> tuple[Select[Any], dict[str, Any]]:
    """The one statement of `page_of_names` and its parameters, for a service to run on its own
    (`Database.first_row`); its row reads with `page_in`."""
    params = {
        "repo": repository_id,
        "after": after or "",
        "limit": limit,
        "now": now_ms() if now is None else now,
    }
    return (_NAMES_JOINED_SQLITE if dialect_name == "sqlite" else _NAMES_JOINED), params


def page_in(row: tuple[Any, ...] | None) -> NamePage | None:
    """The page in `page_query`'s row, or None when the joined names do not split back into the
    names (one holds the separator): then `page_of_names` reads them one by one."""
    assert row is not None  # an aggregate without GROUP BY always answers one row
    text, count, expires_ms = row
    if not count:
        return NamePage(None, [], 0)
    if text.count(_SEPARATOR) == count - 1:
        return NamePage(text, [], count, expires_ms)
    return None


def page_of_names(
    db: Db, repository_id: int, *, after: str | None, limit: int, now: int | None = None
) -> NamePage:
    """Up to `limit` names of tags alive at `now` (default: now) and visible, after `after`, in
    byte order: one statement on the live-tag index (keyset paging, no OFFSET), whatever page of
    the listing it is."""
    statement, params = page_query(db.dialect.name, repository_id, after=after, limit=limit, now=now)
    found = first(db, statement, params)
    page = page_in(found)
    if page is not None:
        return page
    assert found is not None
    rows = column(db, _NAMES, params)
    return NamePage(None, rows, len(rows), found[2])


def list_names(db: Db, repository_id: int, *, after: str | None, limit: int) -> list[str]:
    """`page_of_names` as a list."""
    return page_of_names(db, repository_id, after=after, limit=limit).names()


def like_literal(text: str) -> str:
    """`text` matched literally inside a LIKE pattern with ESCAPE '\\' (tag names hold `_`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class TagLifetime:
    name: str
    manifest_digest: str
    media_type: str
    size: int | None
    """Bytes of the blobs the manifest references; None for an index."""
    start_ms: int
    end_ms: int | None
    """When it ended, or its scheduled expiry (check `alive`)."""
    alive: bool
    expires_ms: int | None
    reversion: bool
    immutable: bool


def history(
    db: Db,
    repository_id: int,
    *,
    only_alive: bool,
    name: str | None = None,
    name_like: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[TagLifetime]:
    """Tag lifetimes, newest first; `name_like` matches a substring of the name."""
    now = now_ms()
    query = (
        select(
            Tag.name,
            Manifest.digest,
            Manifest.media_type,
            MANIFEST_SIZE.label("size"),
            Tag.lifetime_start_ms,
            Tag.lifetime_end_ms,
            Tag.expires_ms,
            Tag.reversion,
            Tag.immutable,
        )
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository_id, Tag.hidden.is_(False))
    )
    if only_alive:
        query = query.where(alive_at(now))
    if name is not None:
        query = query.where(Tag.name == name)
    if name_like:
        query = query.where(Tag.name.like(f"%{like_literal(name_like)}%", escape="\\"))
    rows = db.execute(
        query.order_by(Tag.lifetime_start_ms.desc(), Tag.id.desc()).offset(offset).limit(limit)
    ).all()
    out = []
    for r in rows:
        expired = r.expires_ms is not None and r.expires_ms <= now
        alive = r.lifetime_end_ms is None and not expired
        end = r.lifetime_end_ms if r.lifetime_end_ms is not None else r.expires_ms
        out.append(
            TagLifetime(
                r.name,
                r.digest,
                r.media_type,
                r.size,
                r.lifetime_start_ms,
                end,
                alive,
                r.expires_ms,
                r.reversion,
                r.immutable,
            )
        )
    return out
