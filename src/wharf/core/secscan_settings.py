"""Security scanning's settings (issue 16): an organization's pull policy and SBOM attachment, a
repository's SBOM attachment, and the two reads that act on them: the worst vulnerability a pull
policy counts in a manifest, and the repositories that want an SBOM of a digest.

The policy is kept as its JSON text (written and read by `wharf.secscan.policy` above core): core
stores and returns it whole. It lives on the account row, which the manifest GET already joins,
so a pull learns whether a policy applies without a statement of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Select, bindparam, case, func, select, update

from wharf.core import audit
from wharf.core.errors import InvalidInput
from wharf.core.repositories import _COLUMNS as _REPOSITORY_COLUMNS
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Account, Manifest, Repository, SecscanMatch, SecscanPackage, SecscanVulnerability

SBOM_FORMATS: Final = ("cyclonedx", "spdx")


@dataclass(frozen=True, slots=True)
class NamespaceSettings:
    pull_policy: str | None
    """The policy's JSON text; None: the registry's default applies."""
    sbom_format: str | None


def namespace_settings(db: Db, account_id: int) -> NamespaceSettings:
    row = db.execute(
        select(Account.secscan_pull_policy, Account.secscan_sbom_format).where(Account.id == account_id)
    ).first()
    if row is None:
        return NamespaceSettings(None, None)
    return NamespaceSettings(row.secscan_pull_policy, row.secscan_sbom_format)


def _check_format(sbom_format: str | None) -> None:
    if sbom_format is not None and sbom_format not in SBOM_FORMATS:
        raise InvalidInput(
            f"sbom_format must be one of {', '.join(SBOM_FORMATS)} or null, not {sbom_format!r}",
            field="sbom_format",
        )


def set_namespace_settings(
    db: Db,
    account_id: int,
    namespace: str,
    *,
    pull_policy: str | None,
    sbom_format: str | None,
    actor: audit.Actor | None,
) -> NamespaceSettings:
    """Replace a namespace's pull policy (its JSON text, or None for the registry's default) and
    SBOM format (None: attach none), with the audit entry."""
    _check_format(sbom_format)
    db.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(secscan_pull_policy=pull_policy, secscan_sbom_format=sbom_format)
    )
    audit.record(
        db,
        "org_change_security_settings",
        actor,
        namespace_id=account_id,
        namespace=namespace,
        pull_policy=pull_policy or "default",
        sbom_format=sbom_format or "none",
    )
    return NamespaceSettings(pull_policy, sbom_format)


def repository_sbom_format(db: Db, repository_id: int) -> str | None:
    return db.execute(select(Repository.secscan_sbom_format).where(Repository.id == repository_id)).scalar()


def set_repository_sbom_format(
    db: Db, repo: RepositoryRecord, sbom_format: str | None, actor: audit.Actor | None
) -> None:
    """Attach SBOMs of this format to the repository's indexed images (None: as its namespace)."""
    _check_format(sbom_format)
    db.execute(update(Repository).where(Repository.id == repo.id).values(secscan_sbom_format=sbom_format))
    audit.record_for(db, "change_repo_sbom_format", actor, repo, sbom_format=sbom_format or "namespace")


# The pull policy's read ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorstMatch:
    osv_id: str
    severity: str
    package: str
    version: str
    fixed_by: str


@functools.lru_cache(maxsize=64)
def _worst(levels: tuple[str, ...], fixable_only: bool) -> Select[str, str, str, str, str]:
    """Built once per policy shape (constructing a select costs more than running it): the
    matches of one digest at the given levels, worst first. One search of the matches' digest
    index, then the few rows it finds joined by primary key."""
    rank = case({level: i for i, level in enumerate(levels)}, value=SecscanVulnerability.severity)
    query = (
        select(
            SecscanVulnerability.osv_id,
            SecscanVulnerability.severity,
            SecscanPackage.name,
            SecscanPackage.version,
            SecscanMatch.fixed_by,
        )
        .join(SecscanVulnerability, SecscanVulnerability.id == SecscanMatch.vulnerability_id)
        .join(SecscanPackage, SecscanPackage.id == SecscanMatch.package_id)
        .where(SecscanMatch.manifest_digest == bindparam("digest"), SecscanVulnerability.severity.in_(levels))
        .order_by(rank, SecscanVulnerability.osv_id)
        .limit(1)
    )
    if fixable_only:
        query = query.where(SecscanMatch.fixed_by != "")
    return query


def worst_match(db: Db, digest: str, levels: Sequence[str], fixable_only: bool) -> WorstMatch | None:
    """The worst vulnerability of `digest` whose severity is among `levels` (given worst first),
    with a fixed version when `fixable_only`; None when it has none (or no index yet)."""
    if not levels:
        return None
    row = db.execute(_worst(tuple(levels), fixable_only), {"digest": digest}).first()
    return None if row is None else WorstMatch(*(str(v) for v in row))


# SBOM attachment ------------------------------------------------------------------------------

_WANTED = func.coalesce(Repository.secscan_sbom_format, Account.secscan_sbom_format)


def sbom_targets(db: Db, digest: str) -> list[tuple[RepositoryRecord, str]]:
    """The repositories holding `digest` alive whose settings (or their namespace's) ask for an
    SBOM referrer, with the format each asks for."""
    # From the repositories that ask (few, and fewer than manifests), each probed for the digest
    # through the (repository_id, digest) unique index: manifests have no index on digest alone.
    held = (
        select(Manifest.id)
        .where(Manifest.repository_id == Repository.id, Manifest.digest == digest)
        .where(Manifest.deleted_ms.is_(None))
        .exists()
    )
    rows = db.execute(
        select(*_REPOSITORY_COLUMNS, _WANTED.label("fmt"))
        .select_from(Repository)
        .join(Account, Account.id == Repository.namespace_id)
        .where(_WANTED.is_not(None), held)
        .order_by(Repository.id)
    )
    return [(RepositoryRecord(r[0], r[1], r[2], r[3], r[4], r[5]), str(r.fmt)) for r in rows]
