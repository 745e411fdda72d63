"""Changes to a repository's tags and its manifests' labels as a person makes them (API or web
UI): each one checks what it needs and writes its usage-log entry in the same transaction, so both
surfaces log alike."""

from __future__ import annotations

from wharf.core import audit, durations, labels, manifests, repositories, tags
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidDigest, InvalidTag, ManifestNotFound, NotFound, TagImmutable
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.oci import mediatypes as mt
from wharf.oci.digest import is_digest
from wharf.oci.names import is_valid_tag


def time_machine_s(default_expiration: str, namespace: AccountRecord) -> int:
    """How far back a namespace's tags can be reverted: its own setting, or the registry's default
    (`DEFAULT_TAG_EXPIRATION`, a duration such as "2w")."""
    if namespace.tag_expiration_s is not None:
        return namespace.tag_expiration_s
    return durations.parse_seconds(default_expiration)


def check_tag(tag: str) -> None:
    if not is_valid_tag(tag):
        raise InvalidTag(f"invalid tag name {tag[:200]!r}", field="tag")


def manifest_id(db: Db, repo: RepositoryRecord, digest: str, *, include_deleted: bool = False) -> int:
    if not is_digest(digest):
        raise InvalidDigest(f"{digest[:200]!r} is not a digest")
    found = db.execute(manifests.id_by_digest(repo.id, digest, include_deleted=include_deleted))
    manifest = found.scalar_one_or_none()
    if manifest is None:
        raise ManifestNotFound(f"manifest {digest} is not in {repo.namespace}/{repo.name}")
    return int(manifest)


def point(db: Db, repo: RepositoryRecord, tag: str, digest: str, actor: audit.Actor | None) -> None:
    """Create `tag` on the manifest, or move it there."""
    check_tag(tag)
    repositories.require_normal(db, repo)
    target = manifest_id(db, repo, digest)
    before = db.execute(manifests.alive_tag_digest(repo.id, tag, now_ms())).scalar_one_or_none()
    if tags.point(db, repo.id, tag, target):
        kind = "move_tag" if before else "create_tag"
        audit.record_for(db, kind, actor, repo, tag=tag, manifest_digest=digest, original=before)


def set_expiration(
    db: Db, repo: RepositoryRecord, tag: str, expires_ms: int | None, actor: audit.Actor | None
) -> None:
    check_tag(tag)
    repositories.require_normal(db, repo)
    tags.set_expiration(db, repo.id, tag, expires_ms)
    seconds = expires_ms // 1000 if expires_ms is not None else None
    audit.record_for(db, "change_tag_expiration", actor, repo, tag=tag, expiration_date=seconds)


def set_immutable(
    db: Db, repo: RepositoryRecord, tag: str, immutable: bool, actor: audit.Actor | None
) -> None:
    check_tag(tag)
    repositories.require_normal(db, repo)
    tags.set_immutable(db, repo.id, tag, immutable)
    audit.record_for(db, "change_tag_immutability", actor, repo, tag=tag, immutable=immutable)


def _end(db: Db, repo: RepositoryRecord, tag: str) -> str:
    """End the tag's live lifetime (the one way both deletions below go); the digest it had."""
    check_tag(tag)
    repositories.require_normal(db, repo)
    try:
        removed = tags.remove(db, repo.id, tag)
    except ManifestNotFound:
        raise ManifestNotFound(f"no tag {tag!r} in {repo.namespace}/{repo.name}") from None
    return str(db.execute(manifests.digest_of(removed)).scalar_one())


def delete(db: Db, repo: RepositoryRecord, tag: str, actor: audit.Actor | None) -> None:
    """End the tag's lifetime; it stays restorable within the time-machine window."""
    digest = _end(db, repo, tag)
    audit.record_for(db, "delete_tag", actor, repo, tag=tag, manifest_digest=digest)


def prune_all(db: Db, repo: RepositoryRecord, names: list[str], actor: audit.Actor | None) -> list[str]:
    """`delete` for a batch of tags, as an auto-prune policy does it (its own usage-log kind):
    restorable alike. In one transaction, the repository's state is read once and the
    manifests' digests in one query, not once a tag (at 100,000 tags those two reads were
    about a third of the time). A tag that is gone or immutable by now is left alone; returns
    the tags deleted, each with its own usage-log entry."""
    repositories.require_normal(db, repo)
    ended: list[tuple[str, int]] = []
    for tag in names:
        check_tag(tag)
        try:
            ended.append((tag, tags.remove(db, repo.id, tag)))
        except (NotFound, TagImmutable):  # changed since the caller looked: not ours to delete
            continue
    digests = manifests.digests_of(db, sorted({manifest for _, manifest in ended}))
    for tag, manifest in ended:
        audit.record_for(db, "autoprune_tag_delete", actor, repo, tag=tag, manifest_digest=digests[manifest])
    return [tag for tag, _ in ended]


def revert(
    db: Db, repo: RepositoryRecord, tag: str, digest: str, window_ms: int, actor: audit.Actor | None
) -> None:
    """Point the tag back at a manifest it had within the time-machine window."""
    check_tag(tag)
    repositories.require_normal(db, repo)
    target = manifest_id(db, repo, digest, include_deleted=True)
    manifests.undelete(db, target)
    tags.restore(db, repo.id, tag, target, window_ms)
    audit.record_for(db, "revert_tag", actor, repo, tag=tag, manifest_digest=digest)


def forget(
    db: Db, repo: RepositoryRecord, tag: str, digest: str, include_alive: bool, actor: audit.Actor | None
) -> int:
    """Remove the tag's lifetimes on the manifest from the time machine, for good: how many went."""
    check_tag(tag)
    repositories.require_normal(db, repo)
    target = manifest_id(db, repo, digest, include_deleted=True)
    removed = tags.forget(db, repo.id, tag, target, include_alive=include_alive)
    if removed:
        audit.record_for(db, "permanently_delete_tag", actor, repo, tag=tag, manifest_digest=digest)
    return removed


def add_label(
    db: Db,
    repo: RepositoryRecord,
    digest: str,
    key: str,
    value: str,
    media_type: str | None,
    actor: audit.Actor | None,
) -> labels.LabelRecord:
    """Label the manifest; `quay.expires-after` also schedules the expiry of its live tags."""
    repositories.require_normal(db, repo)
    target = manifest_id(db, repo, digest)
    label = labels.add(db, target, key, value, media_type)
    lifetime_ms = labels.expires_after_ms({label.key: label.value})
    if lifetime_ms is not None:
        for name in manifests.alive_tag_names(db, repo.id, target):
            tags.set_expiration(db, repo.id, name, now_ms() + lifetime_ms)
    audit.record_for(db, "manifest_label_add", actor, repo, label_key=key, manifest_digest=digest)
    return label


def remove_label(
    db: Db, repo: RepositoryRecord, digest: str, label_uuid: str, actor: audit.Actor | None
) -> labels.LabelRecord:
    repositories.require_normal(db, repo)
    label = labels.remove(db, manifest_id(db, repo, digest), label_uuid)
    audit.record_for(db, "manifest_label_delete", actor, repo, label_key=label.key, manifest_digest=digest)
    return label


def change(
    db: Db,
    repo: RepositoryRecord,
    tag: str,
    *,
    digest: str | None,
    expiration: bool,
    expires_ms: int | None,
    immutable: bool | None,
    actor: audit.Actor | None,
) -> None:
    """Point `tag` at `digest` (when given), set its expiration when `expiration` (`expires_ms`,
    None to clear it) and its immutability (when given), in this order, in one transaction."""
    if digest is not None:
        point(db, repo, tag, digest, actor)
    if expiration:
        set_expiration(db, repo, tag, expires_ms, actor)
    if immutable is not None:
        set_immutable(db, repo, tag, immutable, actor)


def history_page(
    db: Db,
    repo: RepositoryRecord,
    *,
    only_alive: bool,
    name: str | None,
    name_like: str | None,
    offset: int,
    limit: int,
) -> tuple[list[tags.TagLifetime], dict[str, dict[str, bool]]]:
    """`tags.history` for one page plus one, with the children of the page's indexes (and
    whether each is present: a mirror's index may be sparse)."""
    found = tags.history(
        db, repo.id, only_alive=only_alive, name=name, name_like=name_like, offset=offset, limit=limit + 1
    )
    indexes = [t.manifest_digest for t in found[:limit] if t.media_type in mt.INDEXES]
    return found, manifests.children_of(db, repo.id, indexes)


def labels_of(db: Db, repo: RepositoryRecord, digest: str, prefix: str | None) -> list[labels.LabelRecord]:
    """The manifest's labels, those whose key starts with `prefix` when given."""
    return labels.list_for(db, manifest_id(db, repo, digest), prefix)


def label_of(db: Db, repo: RepositoryRecord, digest: str, label_uuid: str) -> labels.LabelRecord:
    return labels.get(db, manifest_id(db, repo, digest), label_uuid)
