"""The services the web's pages call: the organization a page names with the visitor's standing,
the chrome around every page, a manifest's page, an organization's default permissions, a page of
usage logs with its chart's counts, the consent page's approval, and the application token that
/api/v1 and the web mint alike. Called directly, on a real database; what the pages make of them
is tested in tests/integration/web/."""

from __future__ import annotations

import pytest

from tests.integration.registry_client import RegistryClient
from wharf.app import WharfApp
from wharf.auth.identity import Identity
from wharf.core import (
    accounts,
    applications,
    audit,
    global_messages,
    inbox,
    logs,
    orgs,
    prototypes,
    scopes,
    stars,
    tag_changes,
    teams,
    tokens,
)
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput
from wharf.runtime import Runtime
from wharf.services import applications as application_service
from wharf.services import default_permissions as default_permission_service
from wharf.services import manifest_details, oauth_consent, org_roles, page_chrome, usage_logs
from wharf.services import repositories as repository_service

BY = audit.Actor(None, "admin", "127.0.0.1")


async def _user(rt: Runtime, name: str) -> tuple[AccountRecord, Identity]:
    account = await rt.db.write(accounts.create_user, name, "pw-" + "x" * 8, f"{name}@example.com")
    return account, Identity("user", account.id, name, scopes=scopes.ALL)


async def test_an_organization_comes_with_the_callers_standing(wharf: WharfApp) -> None:
    rt = wharf.rt
    owner, owner_id = await _user(rt, "owner")
    _, stranger_id = await _user(rt, "stranger")
    await rt.db.write(orgs.create, "acme", None, owner, BY)

    mine = await org_roles.of(rt, owner_id, "acme")
    assert mine is not None and mine.org.name == "acme" and mine.is_admin and mine.is_member
    theirs = await org_roles.of(rt, stranger_id, "acme")
    assert theirs is not None and not theirs.is_admin and not theirs.is_member
    anonymous = await org_roles.of(rt, Identity("anonymous"), "acme")
    assert anonymous is not None and not anonymous.is_admin and not anonymous.is_member
    # A user's name is not an organization's.
    assert await org_roles.of(rt, owner_id, "owner") is None
    assert await org_roles.of(rt, owner_id, "nobody") is None


async def test_the_chrome_counts_the_visitors_unread_notifications(wharf: WharfApp) -> None:
    rt = wharf.rt
    reader, _ = await _user(rt, "reader")
    await rt.db.write(global_messages.create, "Maintenance tonight", "text/plain", "warning", BY)
    await rt.db.write(inbox.add, [reader.id, reader.id], "test", {})

    seen = await page_chrome.load(rt, reader.id)
    assert [m.content for m in seen.messages] == ["Maintenance tonight"]
    assert seen.unread == 1
    anonymous = await page_chrome.load(rt, None)
    assert anonymous.unread == 0 and anonymous.messages == seen.messages


async def test_a_manifest_comes_with_its_labels_tags_and_the_callers_star(
    wharf: WharfApp, reg: RegistryClient
) -> None:
    rt = wharf.rt
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    repo = await repository_service.create(
        rt, "admin", "shown", visibility="private", description=None, creator_id=admin.id, by=BY
    )
    digest, _ = await reg.push_image("admin/shown", "v1")
    await rt.db.write(tag_changes.point, repo, "latest", digest, BY)
    await rt.db.write(tag_changes.add_label, repo, digest, "team", "core", "text/plain", BY)

    found = await manifest_details.of(rt, repo, digest, admin.id)
    assert found.record.digest == digest
    assert [(label.key, label.value) for label in found.labels] == [("team", "core")]
    assert sorted(found.tags) == ["latest", "v1"]
    assert not found.starred
    await rt.db.write(stars.star, admin.id, repo.id)
    assert (await manifest_details.of(rt, repo, digest, admin.id)).starred
    assert not (await manifest_details.of(rt, repo, digest, None)).starred


async def test_a_page_of_logs_comes_with_the_counts_of_its_whole_range(wharf: WharfApp) -> None:
    rt = wharf.rt
    owner, _ = await _user(rt, "logger")
    for name in ("one", "two", "three"):
        await repository_service.create(
            rt, "logger", name, visibility="private", description=None, creator_id=owner.id, by=BY
        )
    scope = logs.Scope(namespace_id=owner.id)
    start, end = 0, 2**62

    async def page(
        before: tuple[int, int] | None, after: tuple[int, int] | None
    ) -> tuple[list[logs.Entry], usage_logs.Counts]:
        return await usage_logs.page_with_counts(rt, scope, start, end, before=before, after=after, limit=2)

    every = await rt.db.read(logs.page, scope, start, end, before=None)
    assert sum(1 for e in every if e.kind == "create_repo") == 3 and len(every) > 3

    newest, counts = await page(None, None)
    assert [e.id for e in newest] == [e.id for e in every[:2]]
    assert sum(n for kind, n, _ in counts if kind == "create_repo") == 3
    assert sum(n for _, n, _ in counts) == len(every)
    first, last = (newest[0].created_ms, newest[0].id), (newest[-1].created_ms, newest[-1].id)
    # `before` pages to older entries, and wins over `after`.
    older, again = await page(last, first)
    assert [e.id for e in older] == [e.id for e in every[2:4]]
    assert again == counts
    # `after` alone pages back towards newer ones.
    newer, _ = await page(None, last)
    assert [e.id for e in newer] == [every[0].id]


async def test_default_permissions_come_with_the_teams_a_new_one_may_name(wharf: WharfApp) -> None:
    rt = wharf.rt
    owner, _ = await _user(rt, "prototyper")
    org = await rt.db.write(orgs.create, "defaults", None, owner, BY)
    await rt.db.write(teams.upsert, org, "builders", "member", None, BY)
    made = await rt.db.write(
        prototypes.create_named,
        org,
        "write",
        delegate_kind="team",
        delegate_name="builders",
        activating_name=None,
        actor=BY,
    )

    found = await default_permission_service.of_org(rt, org)
    assert [(p.id, p.role) for p in found.prototypes] == [(made.id, "write")]
    assert found.prototypes[0].delegate_team is not None
    assert found.prototypes[0].delegate_team.name == "builders"
    assert sorted(t.name for t in found.teams) == ["builders", "owners"]


async def test_an_application_token_carries_no_scope_its_minter_lacks(wharf: WharfApp) -> None:
    rt = wharf.rt
    owner, owner_id = await _user(rt, "minter")
    org = await rt.db.write(orgs.create, "apps", None, owner, BY)
    app = await rt.db.write(
        applications.create,
        rt.secrets,
        org,
        name="ci",
        actor=BY,
    )

    secret, info = await application_service.mint_token(
        rt, app, owner_id, "repo:read", title="ci token", lifetime_ms=None, actor=BY
    )
    assert secret and info.account_name == "minter" and info.scopes == {"repo:read"}
    assert info.title == "ci token"
    narrow = Identity("user", owner.id, "minter", scopes=frozenset({"repo:read"}))
    with pytest.raises(InvalidInput, match="scopes that your own token lacks"):
        await application_service.mint_token(
            rt, app, narrow, "repo:read repo:write", title="t", lifetime_ms=None, actor=BY
        )
    assert [t.uuid for t in await rt.db.read(tokens.list_for_application, app.id)] == [info.uuid]


async def test_an_approval_gives_the_application_a_code_or_a_token_of_the_approver(wharf: WharfApp) -> None:
    rt = wharf.rt
    owner, _ = await _user(rt, "approver")
    org = await rt.db.write(orgs.create, "consent", None, owner, BY)
    app = await rt.db.write(
        applications.create, rt.secrets, org, name="web", redirect_uri="https://app.example/cb", actor=BY
    )
    granted = frozenset({"repo:read"})

    code = await oauth_consent.issue_code(rt, app, owner.id, granted, "https://app.example/cb")
    redeemed = await rt.db.write(applications.redeem_code, app, code, "https://app.example/cb")
    assert redeemed is not None
    account, scopes_of_code = redeemed
    assert (account.id, scopes_of_code) == (owner.id, granted)

    token = await oauth_consent.grant_token(rt, app, owner.id, granted, BY)
    assert token
    [listed] = await rt.db.read(tokens.list_for_application, app.id)
    assert (listed.account_name, listed.scopes, listed.title) == ("approver", granted, "web")
