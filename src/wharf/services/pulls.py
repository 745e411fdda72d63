"""The reads of the /v2 surface: a manifest, a blob's record, referrers, a page of tags or of the
catalog. Each is one read transaction that finds the repository the caller may pull from, in the
statement that checks the caller's token is still current, and reads what the request came for.

These are the hottest paths of the registry (every pull is a manifest GET and blob GETs), so each
does the statements it did when the surface composed them: no statement, transaction or thread
hop more. The caller (the surface) has already checked the token's scope; what is checked here
needs the database. Raises RepositoryNotFound, TokenRevoked (the token was revoked since it was
issued, or it pulls from a repository that was public then and is private now) and the errors of
the core read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from wharf.auth import permissions, tokens
from wharf.auth.identity import ANONYMOUS
from wharf.auth.tokens import Grant
from wharf.config import Settings
from wharf.core import blobs, manifests, repositories, revocation, tags
from wharf.core import secscan_settings as settings_store
from wharf.core.blobs import BlobRecord
from wharf.core.clock import now_ms
from wharf.core.errors import DomainError, PullRefused, RepositoryNotFound, TokenRevoked
from wharf.core.manifests import ManifestRecord, Referrer
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.secscan import policy
from wharf.secscan.policy import PullPolicy
from wharf.services import secscan_settings

P = ParamSpec("P")
T = TypeVar("T")

INLINE_PAGE_MAX = 1000
"""Pages of up to this many names are read inline on SQLite (about a millisecond for 1,000);
larger ones on the database's thread pool, so that the event loop serves other requests meanwhile."""


def pullable(grant: Grant | None, raw: str, repo: RepositoryRecord | None) -> RepositoryRecord:
    """The repository, when it exists and the token still reaches it. `raw` is the name as the
    request wrote it (`app`, not `library/app`): what the token names."""
    if repo is None:
        raise RepositoryNotFound(f"repository {raw} not found")
    if not repo.is_public and grant is not None and raw in grant.public_only:
        raise TokenRevoked()  # it was made private since the token was issued
    return repo


async def require_current(rt: Runtime, grant: Grant) -> None:
    """Raise TokenRevoked when something revoked the token since it was issued: `GET /v2/`'s
    check, one statement on its own."""
    account_id = grant.identity.account_id
    if account_id is not None:
        row = await rt.db.first_row(revocation.GENERATION, {"account_id": account_id})
        tokens.require_generation(grant, revocation.generation_in(row))


def _require_current(grant: Grant | None, account_id: int | None, generation: int | None) -> None:
    """As `tokens.current_repository`: a token of an account is current while the account's
    generation (read by the request's statement) is the one the token carries."""
    if grant is not None and account_id is not None and generation != grant.generation:
        raise TokenRevoked()


async def _in_repository(
    rt: Runtime,
    grant: Grant | None,
    raw: str,
    name: RepositoryName,
    fn: Callable[Concatenate[Db, int, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`fn(db, repository id, ...)` on the repository the caller may pull from, in one read
    transaction (the reads that are more than one statement)."""

    def read(db: Db) -> T:
        repo = pullable(grant, raw, tokens.repository_for(db, grant, name.namespace, name.name))
        return fn(db, repo.id, *args, **kwargs)

    return await rt.db.read(read)


async def manifest(
    rt: Runtime,
    grant: Grant | None,
    raw: str,
    name: RepositoryName,
    reference: str,
    *,
    enforce_policy: bool = False,
) -> tuple[RepositoryRecord, ManifestRecord]:
    """The repository and its manifest `reference` (a tag or a digest), in one statement that
    also reads the caller's credential generation (the revocation check) and the namespace's pull
    policy; that statement runs on its own (`Database.first_row`: on PostgreSQL, on the event
    loop). With `enforce_policy` (a GET, which downloads the manifest), a policy that applies to
    the caller refuses a manifest with a vulnerability it counts (PullRefused): one more
    statement, only then."""
    account_id = grant.identity.account_id if grant is not None else None
    query = manifests.pull_query(name.namespace, name.name, reference, account_id)
    found = query.read(await rt.db.first_row(query.statement, query.params))
    _require_current(grant, account_id, found.generation)
    repo = pullable(grant, raw, found.repository)
    record = found.manifest
    if isinstance(record, DomainError):
        raise record
    if enforce_policy:
        applies = _policy_for(rt.settings, found.pull_policy)
        if applies is not None:
            await rt.db.read(_check_policy, applies, grant, repo, record.digest)
    return repo, record


def _policy_for(settings: Settings, stored: str | None) -> tuple[PullPolicy, bool] | None:
    """(the policy that applies, whether it is the namespace's own), or None when none does;
    decided from values in hand, without a statement."""
    if not settings.FEATURE_SECURITY_SCANNER:
        return None
    if stored is not None:
        own = policy.from_json(stored)
        return (own, True) if own.severity is not None else None
    default = secscan_settings.registry_policy(settings)
    return None if default is None else (default, False)


def _check_policy(
    db: Db, applies: tuple[PullPolicy, bool], grant: Grant | None, repo: RepositoryRecord, digest: str
) -> None:
    """Raise PullRefused when `applies`, the pull policy that applies (`_policy_for`), counts a
    vulnerability of `digest`. A manifest not (yet) indexed has no matches, so it passes: the
    policy never holds up a pull on the scanner's backlog."""
    rule, own = applies
    identity = grant.identity if grant is not None else ANONYMOUS
    if rule.spares(identity.kind, identity.is_superuser):
        return
    worst = settings_store.worst_match(db, digest, rule.levels, rule.fixable_only)
    if worst is None:
        return
    owner = f"the namespace {repo.namespace}" if own else "this registry"
    finding = policy.Finding(worst.osv_id, worst.severity, worst.package, worst.version, worst.fixed_by)
    raise PullRefused(policy.refusal(rule, owner, finding))


async def blob(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, digest: str
) -> BlobRecord | None:
    """The blob `digest` when the repository holds it: one statement with the revocation check,
    run on its own as a manifest GET's."""
    account_id = grant.identity.account_id if grant is not None else None
    found = await _looked_up(rt, blobs.linked_lookup(name.namespace, name.name, digest, account_id))
    _require_current(grant, account_id, found.generation)
    pullable(grant, raw, found.repository)
    return blobs.linked_in(found)


async def _looked_up(rt: Runtime, query: repositories.LookupQuery) -> repositories.Lookup:
    """A `repositories.lookup_statement` run on its own."""
    return repositories.looked_up(await rt.db.first_row(*query))


async def referrers(
    rt: Runtime,
    grant: Grant | None,
    raw: str,
    name: RepositoryName,
    subject: str,
    artifact_type: str | None,
) -> list[Referrer]:
    """The manifests whose subject is `subject`, of `artifact_type` when given."""
    return await _in_repository(rt, grant, raw, name, manifests.referrers, subject, artifact_type)


async def tag_names(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, *, after: str | None, limit: int
) -> list[str]:
    """Up to `limit` live tag names after `after`, in byte order (`tags.list_names`)."""
    return (await tag_page(rt, grant, raw, name, after=after, limit=limit)).names()


async def tag_page(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, *, after: str | None, limit: int
) -> tags.NamePage:
    """`tag_names` as the database joined them (`tags.page_of_names`), for the /v2 tag list: the
    page this process kept, while the repository's tags are as they were when it was read
    (core/tag_list_cache.py). The lookup runs on its own as a manifest GET's, and so does the
    page's read when none is kept (on the thread pool for a large page, as before)."""
    account_id = grant.identity.account_id if grant is not None else None
    found = await _looked_up(rt, repositories.listed_lookup(name.namespace, name.name, account_id))
    _require_current(grant, account_id, found.generation)
    repo = pullable(grant, raw, found.repository)
    version = int(found.rest[0])
    page = rt.tag_lists.kept(repo.id, version, after=after, limit=limit)
    if page is not None:
        return page
    now = now_ms()
    if limit > INLINE_PAGE_MAX + 1:
        page = await rt.db.read_in_pool(tags.page_of_names, repo.id, after=after, limit=limit, now=now)
    else:  # one statement on its own, as the lookup, unless a name holds the separator
        statement, params = tags.page_query(rt.db.dialect, repo.id, after=after, limit=limit, now=now)
        page = tags.page_in(await rt.db.first_row(statement, params))
        if page is None:
            page = await rt.db.read(tags.page_of_names, repo.id, after=after, limit=limit, now=now)
    rt.tag_lists.keep(repo.id, version, after=after, limit=limit, page=page, read_ms=now)
    return page


async def catalog_names(rt: Runtime, grant: Grant, *, after: str | None, limit: int) -> list[str]:
    """Up to `limit` full names of the repositories the caller may see, after `after`."""
    visible = permissions.visible_repositories(grant.identity, rt.settings)

    def read(db: Db) -> list[str]:
        tokens.require_current(db, grant)
        return repositories.list_names(db, visible=visible, after=after, limit=limit)

    if limit > INLINE_PAGE_MAX + 1:
        return await rt.db.read_in_pool(read)
    return await rt.db.read(read)
