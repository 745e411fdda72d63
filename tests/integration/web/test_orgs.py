"""Organization and user-namespace pages: creating an organization, teams and members, robot
accounts, default permissions, OAuth applications, settings; who may see and change what."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import accounts, grants, logs, orgs, repositories, robots, teams
from wharf.db.engine import Db

Open = Callable[[str], Awaitable[Visitor]]


@pytest.fixture
async def signed_in(wharf: WharfApp) -> AsyncIterator[Open]:
    """A browser signed in as the given user of the world (password PW)."""
    opened: list[Visitor] = []

    async def open_as(user: str) -> Visitor:
        v = Visitor(wharf)
        opened.append(v)
        await v.sign_in(user, PW)
        return v

    yield open_as
    for v in opened:
        await v.close()


async def _kinds(wharf: WharfApp, org: str) -> list[str]:
    def read(db: Db) -> list[str]:
        account = accounts.get_by_name(db, org)
        assert account is not None
        return [e.kind for e in logs.page(db, logs.Scope(namespace_id=account.id), 0, 2**62, before=None)]

    return await wharf.rt.db.read(read)


async def _post(v: Visitor, page: str, action: str, **values: str | list[str]) -> httpx.Response:
    """Post to `action` with the CSRF token of the form on `page` (lists send a field many times)."""
    form = await v.form(page, action)
    data: dict[str, str | list[str]] = {"_csrf_token": form.fields["_csrf_token"], **values}
    return await v.http.post(action, data=data)


async def test_create_an_organization_a_team_and_members(
    signed_in: Open, world: World, wharf: WharfApp
) -> None:
    v = await signed_in("writer")
    home = (await v.get("/")).text
    assert 'href="/organizations/new/"' in home

    r = await v.submit("/organizations/new/", "/organizations/new/", name="web-org", email="t@example.com")
    assert r.status_code == 303 and r.headers["location"] == "/organization/web-org?tab=teams"
    page = (await v.get("/organization/web-org?tab=teams")).text
    assert "Created organization web-org" in page and "owners" in page and "Create a team" in page
    assert "web-org" in (await v.get("/")).text

    bad = await v.submit("/organizations/new/", "/organizations/new/", name="Bad Name")
    assert bad.status_code == 422 and "lowercase letters" in bad.text
    taken = await v.submit("/organizations/new/", "/organizations/new/", name="acme")
    assert taken.status_code == 409 and "taken" in taken.text
    mail = await v.submit("/organizations/new/", "/organizations/new/", name="other-org", email="nope")
    assert mail.status_code == 422 and "e-mail" in mail.text

    tab = "/organization/web-org?tab=teams"
    r = await v.submit(tab, "/organization/web-org/teams/new", name="devs", role="creator", description="")
    assert r.status_code == 303 and r.headers["location"] == "/organization/web-org/teams/devs"
    again = await v.submit(tab, "/organization/web-org/teams/new", name="devs", role="member")
    assert again.status_code == 409
    bad_team = await v.submit(tab, "/organization/web-org/teams/new", name="Dev Team", role="member")
    assert bad_team.status_code == 422 and "Team names: 2 to 255" in bad_team.text

    team = "/organization/web-org/teams/devs"
    r = await v.submit(team, f"{team}/add-member", member="maker")
    assert r.status_code == 303
    # maker is in no team of web-org: invited (FEATURE_REQUIRE_TEAM_INVITE), joins by accepting
    page = (await v.get(team)).text
    assert "Invited maker to team devs" in page and "Cancel invitation" in page
    invitee = await signed_in("maker")
    r = await invitee.submit("/notifications", "/teaminvite/accept")
    assert r.status_code == 303 and r.headers["location"] == team
    assert "You joined team devs of web-org" in (await invitee.get(team)).text
    assert "Cancel invitation" not in (await v.get(team)).text
    r = await v.submit(team, f"{team}/add-member", member="nobody-here")
    assert r.status_code == 422 and "no user or robot named &#39;nobody-here&#39;" in r.text
    # another namespace's robot cannot join (it would act with this organization's roles)
    await wharf.rt.db.write(
        robots.create, wharf.rt.secrets, await _account(wharf, "outsider"), "bot", actor=None
    )
    r = await v.submit(team, f"{team}/add-member", member="outsider+bot")
    assert r.status_code == 422 and "Only robots of web-org" in r.text

    # the new member may now create repositories in web-org (the creator role)
    maker = await signed_in("maker")
    assert "web-org" in (await maker.get("/new/")).text

    # the team's role and its repositories
    r = await v.submit(team, f"{team}/role", role="member", description="Developers")
    assert r.status_code == 303
    await v.submit("/new/", "/new/", namespace="web-org", name="svc", visibility="private")
    r = await v.submit(team, f"{team}/set-repository", repository="svc", role="write")
    assert r.status_code == 303
    page = (await v.get(team)).text
    assert "web-org/svc" in page and "Developers" in page
    r = await v.submit(team, f"{team}/remove-repository", repository="svc")
    assert r.status_code == 303
    r = await v.submit(team, f"{team}/remove-member", member="maker")
    assert r.status_code == 303 and "maker" not in await _members(wharf, "web-org", "devs")
    # the last owner cannot leave
    owners = "/organization/web-org/teams/owners"
    page = (await v.get(owners)).text
    assert "last owner" in page and f"{owners}/remove-member" not in page
    listing = (await v.get(f"{tab}&view=members")).text
    assert "Last owner" in listing and "/members/remove" not in listing
    csrf = (await v.form(team, f"{team}/delete")).fields
    r = await v.http.post(f"{owners}/remove-member", data={**csrf, "member": "writer"})
    assert r.status_code == 400 and "at least one owner" in r.text
    r = await v.http.post("/organization/web-org/members/remove", data={**csrf, "member": "writer"})
    assert r.status_code == 400 and "last owner" in r.text
    r = await v.submit(team, f"{team}/delete")
    assert r.status_code == 303 and r.headers["location"] == tab
    assert await wharf.rt.db.read(teams.get, (await _account(wharf, "web-org")).id, "devs") is None

    kinds = await _kinds(wharf, "web-org")
    for kind in (
        "org_create",
        "org_create_team",
        "org_add_team_member",
        "org_set_team_role",
        "org_delete_team",
    ):
        assert kind in kinds, kind


async def _account(wharf: WharfApp, name: str) -> accounts.AccountRecord:
    found = await wharf.rt.db.read(accounts.get_by_name, name)
    assert found is not None
    return found


async def _members(wharf: WharfApp, org: str, team: str) -> list[str]:
    def read(db: Db) -> list[str]:
        o = orgs.get(db, org)
        assert o is not None
        t = teams.get(db, o.id, team)
        assert t is not None
        return [n for n, _ in teams.member_names(db, t)]

    return await wharf.rt.db.read(read)


async def test_robot_accounts_of_an_organization(signed_in: Open, world: World, wharf: WharfApp) -> None:
    v = await signed_in("owner")
    tab = "/organization/acme?tab=robots"
    assert "no robot accounts yet" in (await v.get(tab)).text
    r = await v.submit(tab, "/organization/acme/robots/new", name="ci", description="<b>builds</b>")
    assert r.status_code == 303 and r.headers["location"] == "/organization/acme/robots/ci?credentials=1"

    robot = await wharf.rt.db.read(robots.get_by_name, "acme+ci")
    assert robot is not None
    token = wharf.rt.secrets.open(robot.token_ciphertext)
    # the command names SERVER_HOSTNAME, whatever Host header the page was asked with
    page = (await v.get(r.headers["location"], headers={"Host": "evil.example"})).text
    assert f"podman login --tls-verify=false -u &#39;acme+ci&#39; -p &#39;{token}&#39; registry.test" in page
    assert '<div class="credentials card">' in page
    assert "&lt;b&gt;builds&lt;/b&gt;" in page and "<b>builds</b>" not in page
    listed = (await v.get(tab)).text
    assert "acme+ci" in listed and "Create a robot account" in listed
    assert "Last login" in listed and "last login never" in page

    bad = await v.submit(tab, "/organization/acme/robots/new", name="CI Bot")
    assert bad.status_code == 422 and "Robot names" in bad.text
    dup = await v.submit(tab, "/organization/acme/robots/new", name="ci")
    assert dup.status_code == 409

    # the robot can log in to the registry with that token
    async with wharf_http(wharf) as http:
        login = await http.get("/v2/auth", params={"service": "registry.test"}, auth=("acme+ci", token or ""))
    assert login.status_code == 200
    assert "last login just now" in (await v.get("/organization/acme/robots/ci")).text

    # bulk assignment: write on both repositories, then none on one
    robot_page = "/organization/acme/robots/ci"
    perms = f"{robot_page}/permissions"
    r = await _post(v, robot_page, perms, repository=["app", "pub"], role="write")
    assert r.status_code == 303
    assert "now has the write role on 2 repositories" in (await v.get(robot_page)).text
    assert await _held(wharf, "acme+ci") == {"acme/app": "write", "acme/pub": "write"}
    r = await _post(v, robot_page, perms, repository=["pub"], role="none")
    assert await _held(wharf, "acme+ci") == {"acme/app": "write"}
    r = await _post(v, robot_page, perms, role="read")
    assert r.status_code == 422 and "No repository was ticked" in r.text
    r = await _post(v, robot_page, perms, repository=["nope"], role="read")
    assert r.status_code == 404
    r = await _post(v, robot_page, perms, repository=["app"], role="owner")
    assert r.status_code == 422 and "Choose read, write, admin, or none" in r.text

    # federation rows
    fed = f"{robot_page}/federation"
    issuer = "https://token.actions.githubusercontent.com"
    r = await _post(
        v, robot_page, fed, issuer=[issuer, ""], subject=["repo:acme/app:ref:refs/heads/main", ""]
    )
    assert r.status_code == 303
    assert await wharf.rt.db.read(robots.federation, robot.account.id) == [
        (issuer, "repo:acme/app:ref:refs/heads/main")
    ]
    assert f'value="{issuer}"' in (await v.get(robot_page)).text
    r = await _post(v, robot_page, fed, issuer=[issuer], subject=[""])
    assert r.status_code == 422 and "Each row needs a subject" in r.text
    assert f'value="{issuer}"' in r.text  # the row as typed
    r = await _post(v, robot_page, fed, issuer=["ftp://x"], subject=["s"])
    assert r.status_code == 422 and "That is not an issuer URL" in r.text and 'value="ftp://x"' in r.text
    r = await _post(v, robot_page, fed, issuer=["", ""], subject=["", ""])
    assert r.status_code == 303 and await wharf.rt.db.read(robots.federation, robot.account.id) == []

    # regenerate: the old token stops working
    r = await _post(v, robot_page, f"{robot_page}/regenerate")
    assert r.status_code == 303 and r.headers["location"].endswith("?credentials=1")
    again = await wharf.rt.db.read(robots.get_by_name, "acme+ci")
    assert again is not None and wharf.rt.secrets.open(again.token_ciphertext) != token

    # a robot of the organization can join its teams
    readers = "/organization/acme/teams/readers"
    assert (await v.submit(readers, f"{readers}/add-member", member="acme+ci")).status_code == 303
    assert "readers" in (await v.get(tab)).text

    r = await _post(v, robot_page, f"{robot_page}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/organization/acme?tab=robots"
    assert await wharf.rt.db.read(robots.get_by_name, "acme+ci") is None
    assert (await v.get(robot_page)).status_code == 404

    kinds = await _kinds(wharf, "acme")
    for kind in ("create_robot", "regenerate_robot_token", "create_robot_federation", "delete_robot"):
        assert kind in kinds, kind


def wharf_http(wharf: WharfApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wharf), base_url="http://registry.test")


async def _held(wharf: WharfApp, name: str) -> dict[str, str]:
    account = await _account(wharf, name)
    return {n: role for n, _p, role in await wharf.rt.db.read(grants.held_by_account, account.id)}


async def test_robots_and_settings_of_your_own_namespace(
    signed_in: Open, world: World, wharf: WharfApp
) -> None:
    v = await signed_in("writer")
    tab = "/user/writer?tab=robots"
    assert "no robot accounts yet" in (await v.get(tab)).text
    r = await v.submit(tab, "/user/writer/robots/new", name="deployer")
    assert r.status_code == 303
    page = (await v.get(r.headers["location"])).text
    assert "podman login --tls-verify=false -u &#39;writer+deployer&#39;" in page
    # the user's own repositories are offered for bulk assignment
    assert "writer has no repositories yet" in page

    settings = "/user/writer?tab=settings"
    r = await v.submit(settings, "/user/writer/settings", email="w@example.org", tag_expiration_s="86400")
    assert r.status_code == 303
    account = await _account(wharf, "writer")
    assert account.email == "w@example.org" and account.tag_expiration_s == 86400
    r = await v.submit(settings, "/user/writer/settings", tag_expiration_s="12345")
    assert r.status_code == 422 and "TAG_EXPIRATION_OPTIONS" in r.text
    r = await v.submit(settings, "/user/writer/settings", email="not an address")
    assert r.status_code == 422 and "e-mail" in r.text

    # someone else's namespace: its public face only
    other = await signed_in("reader")
    assert (await other.get("/user/writer?tab=robots")).status_code == 403
    assert (await other.get("/user/writer?tab=settings")).status_code == 403
    assert (await other.get("/user/writer/robots/deployer")).status_code == 403
    form = await other.form("/", "/signout")
    r = await other.http.post("/user/writer/robots/new", data={**form.fields, "name": "evil"})
    assert r.status_code == 403
    r = await other.http.post("/user/writer/settings", data={**form.fields, "email": "x@y.z"})
    assert r.status_code == 403
    assert (await _account(wharf, "writer")).email == "w@example.org"
    assert (await other.get("/user/writer")).status_code == 200
    assert (await other.get("/user/nobody-at-all")).status_code == 404


async def test_who_sees_and_changes_what(signed_in: Open, world: World, wharf: WharfApp) -> None:
    reader, outsider = await signed_in("reader"), await signed_in("outsider")
    anonymous = Visitor(wharf)
    try:
        # members see the teams they are in, read-only
        page = (await reader.get("/organization/acme?tab=teams")).text
        assert "readers" in page and "writers" not in page and "Create a team" not in page
        assert "Robot accounts" not in page  # admin-only tabs are not offered
        assert (await reader.get("/organization/acme/teams/readers")).status_code == 200
        assert "add-member" not in (await reader.get("/organization/acme/teams/readers")).text
        assert (await reader.get("/organization/acme/teams/writers")).status_code == 403
        for tab in ("robots", "defaultperms", "applications", "settings", "logs"):
            r = await reader.get(f"/organization/acme?tab={tab}")
            assert r.status_code == 403 and "Only administrators of acme" in r.text, tab

        form = await reader.form("/", "/signout")
        for action, values in (
            ("/organization/acme/teams/new", {"name": "mine", "role": "admin"}),
            ("/organization/acme/teams/readers/add-member", {"member": "reader"}),
            ("/organization/acme/teams/owners/add-member", {"member": "reader"}),
            ("/organization/acme/robots/new", {"name": "sneaky"}),
            (
                "/organization/acme/defaultperms/new",
                {"delegate_kind": "user", "user": "reader", "role": "admin"},
            ),
            ("/organization/acme/applications/new", {"name": "x"}),
            ("/organization/acme/settings", {"email": "x@example.com"}),
            ("/organization/acme/delete", {"confirm": "acme"}),
            ("/organization/acme/members/remove", {"member": "owner"}),
        ):
            r = await reader.http.post(action, data={**form.fields, **values})
            assert r.status_code == 403, (action, r.status_code)
        assert await _members(wharf, "acme", "owners") == ["owner"]

        # outsiders see the public repositories only; anonymous visitors too, and are asked to sign in
        page = (await outsider.get("/organization/acme")).text
        assert "acme/pub" in page and "acme/app" not in page
        assert (await outsider.get("/organization/acme?tab=teams")).status_code == 403
        assert (await outsider.get("/organization/acme/teams/readers")).status_code == 403
        r = await anonymous.get("/organization/acme?tab=robots")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        assert (await anonymous.get("/organization/acme/robots/x")).status_code == 303
        assert (await anonymous.get("/organization/nope")).status_code == 404
        assert (await anonymous.get("/organizations/new/")).status_code == 303
    finally:
        await anonymous.close()


async def test_default_permissions(signed_in: Open, world: World, wharf: WharfApp) -> None:
    v = await signed_in("owner")
    tab = "/organization/acme?tab=defaultperms"
    assert "has no default permissions" in (await v.get(tab)).text
    new = "/organization/acme/defaultperms/new"
    r = await v.submit(tab, new, delegate_kind="team", team="writers", role="write", activating="")
    assert r.status_code == 303
    r = await v.submit(tab, new, delegate_kind="user", user="direct", role="read", activating="maker")
    assert r.status_code == 303
    # each mistake is said next to its field (tests/integration/web/test_form_errors.py for more)
    r = await v.submit(tab, new, delegate_kind="user", user="ghost", role="read")
    assert r.status_code == 422 and "No user or robot named" in r.text
    r = await v.submit(tab, new, delegate_kind="user", user="", role="read")
    assert r.status_code == 422 and "Whom should the permission go to?" in r.text
    r = await v.submit(tab, new, delegate_kind="team", team="writers", role="owner")
    assert r.status_code == 422 and "Choose read, write or admin." in r.text

    # a repository the owner creates gets the writers' default; the maker's one gets both
    await v.submit("/new/", "/new/", namespace="acme", name="fresh", visibility="private")
    maker = await signed_in("maker")
    await maker.submit("/new/", "/new/", namespace="acme", name="made", visibility="private")

    def roles(db: Db, name: str) -> tuple[list[tuple[str, str]], list[str]]:
        repo = repositories.get(db, "acme", name)
        assert repo is not None
        return grants.team_roles(db, repo), [a.name for a, _ in grants.user_roles(db, repo)]

    fresh = await wharf.rt.db.read(roles, "fresh")
    assert ("writers", "write") in fresh[0] and "direct" not in fresh[1]
    made = await wharf.rt.db.read(roles, "made")
    assert ("writers", "write") in made[0] and "direct" in made[1]

    page = (await v.get(tab)).text
    ids = re.findall(r"/organization/acme/defaultperms/([0-9a-f-]{36})/role", page)
    assert len(ids) == 2
    r = await v.submit(tab, f"/organization/acme/defaultperms/{ids[0]}/role", role="admin")
    assert r.status_code == 303
    r = await v.submit(tab, f"/organization/acme/defaultperms/{ids[0]}/delete")
    assert r.status_code == 303
    r = await v.submit(tab, f"/organization/acme/defaultperms/{ids[1]}/delete")
    assert "has no default permissions" in (await v.get(tab)).text
    kinds = await _kinds(wharf, "acme")
    assert {
        "create_prototype_permission",
        "modify_prototype_permission",
        "delete_prototype_permission",
    } <= set(kinds)


async def test_oauth_applications_and_tokens(signed_in: Open, world: World, wharf: WharfApp) -> None:
    v = await signed_in("owner")
    tab = "/organization/acme?tab=applications"
    assert "has no OAuth applications" in (await v.get(tab)).text
    r = await v.submit(
        tab, "/organization/acme/applications/new", name="<i>CI</i>", application_uri="https://ci.example"
    )
    assert r.status_code == 303
    app_page = r.headers["location"]
    client_id = app_page.rsplit("/", 1)[1]
    page = (await v.get(app_page)).text
    assert client_id in page and "&lt;i&gt;CI&lt;/i&gt;" in page and "<i>CI</i>" not in page
    r = await v.submit(tab, "/organization/acme/applications/new", name="x", redirect_uri="javascript:x")
    assert r.status_code == 422 and "http" in r.text

    # a token with ticked scopes is shown once, and works
    token_action = f"{app_page}/token"
    r = await _post(v, app_page, token_action, title="deploys", scope=["user:read", "repo:read"])
    assert r.status_code == 201 and "Copy it now" in r.text
    (secret,) = re.findall(r'data-copy="([A-Za-z0-9_\-]{60})"', r.text)
    async with wharf_http(wharf) as http:
        me = await http.get("/api/v1/user/", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["username"] == "owner"
    page = (await v.get(app_page)).text
    assert secret not in page and "deploys" in page and "repo:read, user:read" in page
    r = await _post(v, app_page, token_action, title="none")
    assert r.status_code == 422 and "at least one scope" in r.text
    r = await _post(v, app_page, token_action, scope=["root:all"])
    assert r.status_code == 422 and "Unknown scope" in r.text

    (token_uuid,) = re.findall(r'name="token" value="([0-9a-f-]{36})"', page)
    r = await _post(v, app_page, f"{app_page}/revoke", token=token_uuid)
    assert r.status_code == 303
    async with wharf_http(wharf) as http:
        me = await http.get("/api/v1/user/", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401

    r = await v.submit(app_page, f"{app_page}/update", name="CI two", redirect_uri="https://ci.example/cb")
    assert r.status_code == 303 and "CI two" in (await v.get(app_page)).text
    r = await _post(v, app_page, f"{app_page}/reset-secret")
    assert r.status_code == 303
    r = await _post(v, app_page, f"{app_page}/delete")
    assert r.status_code == 303 and (await v.get(app_page)).status_code == 404
    assert {
        "create_application",
        "update_application",
        "reset_application_client_secret",
        "delete_application",
    } <= set(await _kinds(wharf, "acme"))


async def test_settings_and_deleting_an_organization(signed_in: Open, world: World, wharf: WharfApp) -> None:
    v = await signed_in("owner")
    tab = "/organization/acme?tab=settings"
    page = (await v.get(tab)).text
    assert "2 weeks" in page  # the registry's default window
    r = await v.submit(
        tab, "/organization/acme/settings", email="ops@acme.example", tag_expiration_s="604800"
    )
    assert r.status_code == 303
    acme = await _account(wharf, "acme")
    assert acme.email == "ops@acme.example" and acme.tag_expiration_s == 604800
    r = await v.submit(tab, "/organization/acme/settings", tag_expiration_s="forever")
    assert r.status_code == 422
    assert "org_change_tag_expiration" in await _kinds(wharf, "acme")

    r = await v.submit(tab, "/organization/acme/delete", confirm="acm")
    assert r.status_code == 422 and "type acme exactly" in r.text
    r = await v.submit(tab, "/organization/acme/delete", confirm="acme")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert await wharf.rt.db.read(orgs.get, "acme") is None


async def test_names_and_descriptions_are_escaped(signed_in: Open, world: World) -> None:
    v = await signed_in("owner")
    tab = "/organization/acme?tab=teams"
    r = await v.submit(tab, "/organization/acme/teams/new", name="qa", role="member")
    team = "/organization/acme/teams/qa"
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    await v.submit(team, f"{team}/role", role="member", description=hostile)
    for path in (team, tab):
        page = (await v.get(path)).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # a hostile member name comes back escaped in the error page too
    r = await v.submit(team, f"{team}/add-member", member="<b>x</b>")
    assert r.status_code == 422 and "<b>x</b>" not in r.text and "&lt;b&gt;x&lt;/b&gt;" in r.text
