"""Quay's confirm-username gate: while an account made at a first external sign-in has the
confirm_username prompt pending, every page sends its owner to /updateuser first (as Quay's web
client does), except signing out, static files and /updateuser itself. The sign-in that leads there
is tested in tests/integration/identity/test_github_login.py."""

from __future__ import annotations

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW
from wharf.app import WharfApp
from wharf.core import accounts, federated_logins
from wharf.core.federated_logins import ExternalUser
from wharf.db.engine import Db


def _external_account(db: Db) -> str:
    """A GitHub user `octo` whose name was taken: Wharf made `octo1`, awaiting its owner's word,
    then given a password so that the test browser signs in without GitHub."""
    account = federated_logins.sign_in(db, "github", ExternalUser("octo", None, None), may_create=True)
    accounts.update_user(db, account, password=PW)
    return account.name


async def test_every_page_waits_for_the_username_to_be_confirmed(
    reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.create_user("octo", PW)
    name = await wharf.rt.db.write(_external_account)
    assert name == "octo1"
    v = Visitor(wharf)
    try:
        signed = await v.sign_in(name, PW)
        assert signed.headers["location"] == "/updateuser?redirect_url=%2F"
        for page, back in (
            ("/", "%2F"),
            ("/repository/", "%2Frepository%2F"),
            ("/user/octo1?tab=settings", "%2Fuser%2Focto1%3Ftab%3Dsettings"),
            ("/organization/nowhere", "%2Forganization%2Fnowhere"),
        ):
            r = await v.get(page)
            assert (r.status_code, r.headers.get("location")) == (303, f"/updateuser?redirect_url={back}"), (
                page
            )
        assert (await v.get("/updateuser?redirect_url=%2Frepository%2F")).status_code == 200
        assert (await v.get("/static/wharf.css")).status_code == 200
        # the API is not gated: it says what is pending
        assert (await v.get("/api/v1/user/")).json()["prompts"] == ["confirm_username"]
        assert (await v.get("/health/instance")).status_code == 200

        done = await v.submit("/updateuser?redirect_url=%2Frepository%2F", "/updateuser", username="octo-cat")
        assert (done.status_code, done.headers["location"]) == (303, "/repository/")
        assert (await v.get("/repository/")).status_code == 200
        assert (await v.get("/user/octo-cat?tab=settings")).status_code == 200
    finally:
        await v.close()


async def test_signing_out_is_not_gated(reg: RegistryClient, wharf: WharfApp) -> None:
    await reg.create_user("octo", PW)
    name = await wharf.rt.db.write(_external_account)
    v = Visitor(wharf)
    try:
        await v.sign_in(name, PW)
        out = await v.submit("/updateuser", "/signout")
        assert out.status_code == 303
        assert (await v.get("/")).status_code == 200  # signed out: no prompt for anyone
    finally:
        await v.close()
