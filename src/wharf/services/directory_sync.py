"""Keeping Wharf in step with the LDAP directory between sign-ins: teams that follow a directory
group (Quay's team synchronization), and the periodic check that ends the tokens of people the
directory no longer lets sign in.

Directory reads block and run on a thread; each database change is one transaction.
"""

from __future__ import annotations

import asyncio
import logging

from wharf.core import audit, federated_logins, queue, revocation, team_sync
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.durations import parse_seconds
from wharf.core.errors import InvalidInput
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.integrations.ldap_directory import Directory, DirectoryUnavailable, GroupNotFound, groups_of
from wharf.runtime import Runtime

log = logging.getLogger("wharf.directory_sync")

TEAM_SYNC_QUEUE = "team_sync"
USER_CHECK_QUEUE = "directory_user_check"
MAX_TEAMS_PER_RUN = 500
"""As Quay's worker: a run brings at most this many stale teams in step."""
USER_CHECK_PAGE = 500


def _directory(rt: Runtime) -> Directory | None:
    return rt.directory.directory if rt.directory is not None else None


def syncing_enabled(rt: Runtime) -> bool:
    return rt.settings.FEATURE_TEAM_SYNCING and rt.directory is not None


async def sync_of(rt: Runtime, team: TeamRecord) -> team_sync.SyncRecord | None:
    return await rt.db.read(team_sync.get, team.id)


async def enable(
    rt: Runtime, org: AccountRecord, team: TeamRecord, group_dn: str, actor: audit.Actor
) -> team_sync.SyncRecord:
    """Binds the team to the group `group_dn` names (relative to LDAP_BASE_DN, as in Quay), once
    the directory shows the group exists; the job brings the team in step at once."""
    directory = _directory(rt)
    if directory is None or not rt.settings.FEATURE_TEAM_SYNCING:
        raise InvalidInput("team synchronization needs FEATURE_TEAM_SYNCING and AUTHENTICATION_TYPE LDAP")
    group_dn = group_dn.strip()
    if not group_dn:
        raise InvalidInput("group_dn is required: the group's DN, relative to LDAP_BASE_DN", field="group_dn")
    try:
        await asyncio.to_thread(groups_of(directory).members, group_dn)
    except GroupNotFound as e:
        raise InvalidInput(str(e), field="group_dn") from None
    config = {"group_dn": group_dn}

    def write(db: Db) -> team_sync.SyncRecord:
        found = team_sync.enable(db, org, team, federated_logins.LDAP, config, actor)
        queue.enqueue(db, TEAM_SYNC_QUEUE, dedupe_key=f"{TEAM_SYNC_QUEUE}:now")
        return found

    return await rt.db.write(write)


async def disable(rt: Runtime, org: AccountRecord, team: TeamRecord, actor: audit.Actor) -> None:
    await rt.db.write(team_sync.disable, org, team, actor)


async def sync_stale_teams(rt: Runtime) -> int:
    """Brings the teams not synced within TEAM_RESYNC_STALE_TIME in step with their groups; the
    number of teams synced. A group that is gone records its error on its team; an unreachable
    directory records it on the team being synced and ends the run (the next one tries again)."""
    directory = _directory(rt)
    if directory is None or not rt.settings.FEATURE_TEAM_SYNCING:
        return 0
    cutoff = now_ms() - parse_seconds(rt.settings.TEAM_RESYNC_STALE_TIME) * 1000
    done = 0
    for sync in await rt.db.read(team_sync.stale, cutoff, MAX_TEAMS_PER_RUN):
        group_dn = str(sync.config.get("group_dn", ""))
        try:
            members = await asyncio.to_thread(groups_of(directory).members, group_dn)
        except GroupNotFound as e:
            await rt.db.write(team_sync.record_error, sync.team_id, str(e))
            continue
        except DirectoryUnavailable as e:
            await rt.db.write(team_sync.record_error, sync.team_id, str(e))
            log.warning("team synchronization stopped: %s", e)
            break
        pairs = [(m.username, m.email) for m in members]
        outcome = await rt.db.write(team_sync.apply, sync.team_id, sync.service, pairs)
        if outcome is not None:
            done += 1
            if outcome.added or outcome.removed:
                log.info(
                    "team %s synced with %s: added %s, removed %s",
                    sync.team_id,
                    group_dn,
                    outcome.added,
                    outcome.removed,
                )
    return done


async def check_directory_users(rt: Runtime) -> list[int]:
    """Looks every enabled directory-linked account up in the directory (in pages, a few dozen
    names per search) and ends all the tokens and sessions of those it no longer lets sign in
    (removed, or filtered out by LDAP_USER_FILTER); their ids. An unreachable directory ends
    nothing: absence must be seen, not assumed."""
    directory = _directory(rt)
    if directory is None:
        return []
    ended: list[int] = []
    after = 0
    while True:
        page = await rt.db.read(federated_logins.linked_page, federated_logins.LDAP, after, USER_CHECK_PAGE)
        if not page:
            return ended
        after = page[-1][0]
        idents = [ident for _, ident, _ in page]
        present = await asyncio.to_thread(groups_of(directory).present, idents)
        gone = [account_id for _, ident, account_id in page if ident not in present]
        if gone:
            await rt.db.write(revocation.end_all, gone)
            log.info("ended the tokens of %d accounts no longer in the directory", len(gone))
            ended.extend(gone)
