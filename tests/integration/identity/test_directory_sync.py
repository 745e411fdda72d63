"""Teams following directory groups, and tokens ending when the directory drops a user (issue 19),
against a real OpenLDAP directory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests import ldap_server
from tests.integration.web_client import Visitor, forms_of
from tests.ldap_server import LdapServer
from wharf.app import WharfApp, build_app
from wharf.config import load_settings
from wharf.jobs import runner
from wharf.services import directory_sync

pytestmark = pytest.mark.skipif(not ldap_server.available(), reason="needs slapd and python-ldap")

PEOPLE = {
    "jane": ("jane-directory-pw", "jane@example.org"),
    "bob": ("bob-directory-pw", "bob@example.org"),
    "carol": ("carol-directory-pw", None),
}


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[LdapServer]:
    server = ldap_server.start_slapd(tmp_path / "slapd", PEOPLE, {"devs": ["bob"]})
    yield server
    server.stop()


@pytest.fixture
async def make_wharf(
    wharf: WharfApp, data_dir: Path, db_uri: str | None, directory: LdapServer
) -> AsyncIterator[Any]:
    made: list[WharfApp] = []

    def make(**more: Any) -> WharfApp:
        keys = {
            "LDAP_SUPERUSER_FILTER": "(uid=jane)",
            "FEATURE_TEAM_SYNCING": True,
            "TEAM_RESYNC_STALE_TIME": "0s",
            "LOGIN_CACHE_TTL_S": 0,
            **more,
        }
        overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **directory.settings(**keys)}
        app = build_app(load_settings(None, overrides, environ={}), run_workers=False)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.rt.close()


def _client(app: WharfApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://wharf.test")


async def _signin(http: httpx.AsyncClient, user: str, password: str) -> None:
    csrf = (await http.get("/csrf_token")).json()["csrf_token"]
    r = await http.post(
        "/api/v1/signin", json={"username": user, "password": password}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    http.headers["X-CSRF-Token"] = (await http.get("/csrf_token")).json()["csrf_token"]


async def _org_with_team(http: httpx.AsyncClient) -> None:
    await _signin(http, "jane", "jane-directory-pw")  # a superuser by LDAP_SUPERUSER_FILTER
    assert (await http.post("/api/v1/organization/", json={"name": "acme"})).status_code == 201
    r = await http.put("/api/v1/organization/acme/team/devs", json={"role": "member"})
    assert r.status_code == 200, r.text


async def _members(http: httpx.AsyncClient) -> tuple[list[str], dict[str, Any]]:
    r = await http.get("/api/v1/organization/acme/team/devs/members")
    assert r.status_code == 200, r.text
    body = r.json()
    return sorted(m["name"] for m in body["members"]), body


async def test_a_synced_team_follows_its_group(make_wharf: Any, directory: LdapServer) -> None:
    app = make_wharf()
    async with _client(app) as http:
        await _org_with_team(http)
        r = await http.post(
            "/api/v1/organization/acme/team/devs/syncing", json={"group_dn": "cn=devs,ou=groups"}
        )
        assert r.status_code == 200, r.text
        _, body = await _members(http)
        assert body["synced"]["service"] == "ldap"
        assert body["synced"]["config"] == {"group_dn": "cn=devs,ou=groups"}
        assert body["synced"]["last_updated"] is None
        assert body["can_sync"]["service"] == "ldap"

        # bob has never signed in: the synchronization makes his account, as Quay does
        assert await directory_sync.sync_stale_teams(app.rt) == 1
        names, body = await _members(http)
        assert names == ["bob"]
        assert body["synced"]["last_updated"] is not None and body["synced"]["last_error"] is None

        # the group changes: the team follows, adding jane and removing bob
        directory.set_group("devs", ["jane"])
        await directory_sync.sync_stale_teams(app.rt)
        assert (await _members(http))[0] == ["jane"]

        # users cannot be edited by hand while synced; robots can
        r = await http.put("/api/v1/organization/acme/team/devs/members/bob")
        assert r.status_code == 400 and "synchronized" in r.json()["detail"]
        r = await http.delete("/api/v1/organization/acme/team/devs/members/jane")
        assert r.status_code == 400 and "synchronized" in r.json()["detail"]
        assert (await http.put("/api/v1/organization/acme/robots/builder", json={})).status_code in (200, 201)
        r = await http.put("/api/v1/organization/acme/team/devs/members/acme+builder")
        assert r.status_code == 200, r.text

        # a group that disappears leaves the team as it was and says why
        directory.set_group("devs", [])
        await directory_sync.sync_stale_teams(app.rt)
        names, body = await _members(http)
        assert names == ["acme+builder", "jane"]
        assert "no group" in body["synced"]["last_error"]

        # once unbound, the team is the administrators' again
        r = await http.delete("/api/v1/organization/acme/team/devs/syncing")
        assert r.status_code == 200, r.text
        names, body = await _members(http)
        assert "synced" not in body
        assert (await http.put("/api/v1/organization/acme/team/devs/members/bob")).status_code == 200


async def test_members_found_by_their_memberof_attribute(make_wharf: Any, directory: LdapServer) -> None:
    group = ldap_server.group_dn("ops")  # no such entry: only the people name it
    directory.set_member_of("carol", [group])
    app = make_wharf(LDAP_MEMBEROF_ATTR="seeAlso")
    async with _client(app) as http:
        await _org_with_team(http)
        r = await http.post("/api/v1/organization/acme/team/devs/syncing", json={"group_dn": group})
        assert r.status_code == 200, r.text
        await directory_sync.sync_stale_teams(app.rt)
        assert (await _members(http))[0] == ["carol"]


async def test_a_group_the_directory_does_not_know_is_refused(make_wharf: Any) -> None:
    async with _client(make_wharf()) as http:
        await _org_with_team(http)
        r = await http.post(
            "/api/v1/organization/acme/team/devs/syncing", json={"group_dn": "cn=nope,ou=groups"}
        )
        assert r.status_code == 400 and "no group" in r.json()["detail"]


async def test_only_superusers_set_up_synchronization_by_default(make_wharf: Any) -> None:
    async with _client(make_wharf(LDAP_SUPERUSER_FILTER="(uid=nobody)")) as http:
        await _signin(http, "jane", "jane-directory-pw")
        assert (await http.post("/api/v1/organization/", json={"name": "acme"})).status_code == 201
        assert (
            await http.put("/api/v1/organization/acme/team/devs", json={"role": "member"})
        ).status_code == 200
        r = await http.post(
            "/api/v1/organization/acme/team/devs/syncing", json={"group_dn": "cn=devs,ou=groups"}
        )
        assert r.status_code == 403, r.text
        assert "can_sync" not in (await _members(http))[1]


async def test_users_gone_from_the_directory_lose_their_sessions_and_tokens(
    make_wharf: Any, directory: LdapServer
) -> None:
    app = make_wharf(LDAP_USER_FILTER="(mail=*)")
    async with _client(app) as jane, _client(app) as bob:
        await _signin(jane, "jane", "jane-directory-pw")
        await _signin(bob, "bob", "bob-directory-pw")
        assert await directory_sync.check_directory_users(app.rt) == []
        directory.remove_user("jane")
        directory.set_member_of("bob", [])  # still there, still passing the filter
        ended = await directory_sync.check_directory_users(app.rt)
        assert len(ended) == 1
        assert (await jane.get("/api/v1/user/")).status_code == 401
        assert (await bob.get("/api/v1/user/")).status_code == 200


async def test_the_team_page_binds_a_team_and_disables_hand_edits_of_its_users(
    make_wharf: Any, directory: LdapServer
) -> None:
    app = make_wharf()
    async with _client(app) as http:
        await _org_with_team(http)
    browser = Visitor(app)
    try:
        await browser.sign_in("jane", "jane-directory-pw")
        page = "/organization/acme/teams/devs"
        r = await browser.submit(page, f"{page}/sync", group_dn="cn=nope,ou=groups")
        assert r.status_code == 422 and "no group" in r.text  # the form's error, inline
        r = await browser.submit(page, f"{page}/sync", group_dn="cn=devs,ou=groups")
        assert r.status_code == 303, r.text
        await directory_sync.sync_stale_teams(app.rt)
        text = (await browser.get(page)).text
        assert "follow the directory group" in text and "Last synchronized" in text
        assert 'title="This team follows a directory group: remove bob from the group instead"' in text
        assert not [f for f in forms_of(text) if f.action.endswith("/remove-member")]
        r = await browser.submit(page, f"{page}/unsync")
        assert r.status_code == 303
        assert [f for f in forms_of((await browser.get(page)).text) if f.action.endswith("/remove-member")]
    finally:
        await browser.close()


async def test_the_directory_keeps_passwords_and_sign_ups(make_wharf: Any) -> None:
    app = make_wharf()
    async with _client(app) as http:
        r = await http.post("/api/v1/user/", json={"username": "newbie", "password": "a-long-password"})
        assert r.status_code == 404 and "AUTHENTICATION_TYPE is LDAP" in r.json()["detail"]
        await _signin(http, "jane", "jane-directory-pw")
        r = await http.put("/api/v1/user/", json={"password": "another-long-one"})
        assert r.status_code == 400 and "change yours there" in r.json()["detail"]
        r = await http.post("/api/v1/superuser/users/", json={"username": "made", "email": "m@example.org"})
        assert r.status_code == 400 and "come from the directory" in r.json()["detail"]
        await _signin(http, "bob", "bob-directory-pw")  # makes bob's account
    async with _client(app) as http:
        await _signin(http, "jane", "jane-directory-pw")
        r = await http.put("/api/v1/superuser/users/bob", json={"password": "another-long-one"})
        assert r.status_code == 400 and "in the directory" in r.json()["detail"]
        r = await http.put("/api/v1/superuser/users/bob", json={"enabled": False})
        assert r.status_code == 200, r.text
    browser = Visitor(app)
    try:
        await browser.sign_in("jane", "jane-directory-pw")
        page = (await browser.get("/user/jane?tab=settings")).text
        assert "change your password in the directory" in page and "/user/jane/password" not in page
        page = (await browser.get("/superuser?tab=users")).text
        assert "Users come from the directory" in page and 'action="/superuser/users"' not in page
    finally:
        await browser.close()


async def test_the_jobs_recur_only_where_they_have_work(make_wharf: Any, wharf: WharfApp) -> None:
    on = runner.periodic(make_wharf(LDAP_USER_CHECK_INTERVAL_S=120, TEAM_SYNC_WORKER_FREQUENCY=30).rt)
    assert on[directory_sync.TEAM_SYNC_QUEUE] == 30 and on[directory_sync.USER_CHECK_QUEUE] == 120
    off = runner.periodic(make_wharf(FEATURE_TEAM_SYNCING=False, LDAP_USER_CHECK_INTERVAL_S=0).rt)
    assert directory_sync.TEAM_SYNC_QUEUE not in off and directory_sync.USER_CHECK_QUEUE not in off
    database = runner.periodic(wharf.rt)  # AUTHENTICATION_TYPE: Database
    assert directory_sync.TEAM_SYNC_QUEUE not in database and directory_sync.USER_CHECK_QUEUE not in database


async def _create_repo(http: httpx.AsyncClient, namespace: str) -> httpx.Response:
    body = {"namespace": namespace, "repository": "app", "visibility": "private", "description": ""}
    return await http.post("/api/v1/repository", json=body)


async def _pushable(http: httpx.AsyncClient, repository: str, user: str, password: str) -> list[str]:
    """The actions a registry token for pushing to `repository` grants."""
    r = await http.get(
        "/v2/auth", params={"scope": f"repository:{repository}:push,pull"}, auth=(user, password)
    )
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
    return [a for entry in claims["access"] for a in entry["actions"]]


async def test_restricted_users_have_no_namespace_of_their_own(make_wharf: Any) -> None:
    # bob joins acme's team at once rather than by an invitation (issue 19's team invitations)
    app = make_wharf(
        FEATURE_RESTRICTED_USERS=True,
        LDAP_RESTRICTED_USER_FILTER="(uid=bob)",
        FEATURE_REQUIRE_TEAM_INVITE=False,
    )
    async with _client(app) as jane:
        await _org_with_team(jane)  # jane is not restricted: her organization is made
        assert (await _create_repo(jane, "jane")).status_code == 201
        assert "push" in await _pushable(jane, "jane/new", "jane", "jane-directory-pw")
        r = await jane.put("/api/v1/organization/acme/team/makers", json={"role": "creator"})
        assert r.status_code == 200
    async with _client(app) as bob:
        await _signin(bob, "bob", "bob-directory-pw")
        r = await bob.post("/api/v1/organization/", json={"name": "bobs"})
        assert r.status_code == 403 and "restricted users cannot create organizations" in r.json()["detail"]
        assert (await _create_repo(bob, "bob")).status_code == 403
        r = await bob.get(
            "/v2/auth", params={"scope": "repository:bob/app:push,pull"}, auth=("bob", "bob-directory-pw")
        )
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
        assert [a["actions"] for a in claims["access"]] in ([], [[]])  # no push: nothing to create in
        r = await bob.put("/api/v1/user/robots/builder")  # no robot of his own either (Quay's noRestricted)
        assert r.status_code == 403 and "restricted users cannot have robot accounts" in r.json()["detail"]
    async with _client(app) as jane:
        await _signin(jane, "jane", "jane-directory-pw")
        assert (await jane.put("/api/v1/organization/acme/team/makers/members/bob")).status_code == 200
    async with _client(app) as bob:
        await _signin(bob, "bob", "bob-directory-pw")
        assert (await _create_repo(bob, "acme")).status_code == 201  # where a team lets him
    async with _client(make_wharf(FEATURE_RESTRICTED_USERS=True, RESTRICTED_USERS_WHITELIST=["bob"])) as bob:
        await _signin(bob, "bob", "bob-directory-pw")  # the next sign-in brings the change
        assert (await _create_repo(bob, "bob")).status_code == 201
