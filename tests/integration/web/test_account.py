"""Your own account in the web UI: changing the password, and app tokens shown once."""

from __future__ import annotations

import re

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW
from wharf.app import WharfApp

SETTINGS = "/user/jane?tab=settings"


async def test_change_password_keeps_this_browser_and_ends_the_others(
    reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.create_user("jane", PW)
    here, elsewhere = Visitor(wharf), Visitor(wharf)
    try:
        await here.sign_in("jane", PW)
        await elsewhere.sign_in("jane", PW)
        r = await here.submit(
            SETTINGS,
            "/user/jane/password",
            password="wrong-one",
            new_password="brand-new-pw",
            new_password_again="brand-new-pw",
        )
        assert r.status_code == 422 and "not your current password" in r.text
        r = await here.submit(
            SETTINGS,
            "/user/jane/password",
            password=PW,
            new_password="brand-new-pw",
            new_password_again="different-pw",
        )
        assert r.status_code == 422 and "type the same one twice" in r.text
        r = await here.submit(
            SETTINGS, "/user/jane/password", password=PW, new_password="short", new_password_again="short"
        )
        assert r.status_code == 422 and "at least 8" in r.text
        r = await here.submit(
            SETTINGS,
            "/user/jane/password",
            password=PW,
            new_password="brand-new-pw",
            new_password_again="brand-new-pw",
        )
        assert r.status_code == 303
        assert "other browsers were signed out" in (await here.get(SETTINGS)).text
        assert (await elsewhere.get(SETTINGS)).status_code == 303  # sent to sign in
        token = await reg.token("repository:jane/x:pull", user="jane", password="brand-new-pw")
        assert token
    finally:
        await here.close()
        await elsewhere.close()


async def test_app_tokens_are_shown_once_work_and_can_be_revoked(
    reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.create_user("jane", PW)
    await reg.create_user("joe", PW)
    jane = Visitor(wharf)
    try:
        await jane.sign_in("jane", PW)
        assert "You have no app tokens" in (await jane.get(SETTINGS)).text
        r = await jane.submit(SETTINGS, "/user/jane/apptokens", title="CI <job>", days="30")
        assert r.status_code == 201 and "shown only this once" in r.text
        found = re.search(r'<div class="command"><code>([^<]+)</code>', r.text)
        assert found is not None
        secret = found.group(1)
        page = (await jane.get(SETTINGS)).text
        assert "CI &lt;job&gt;" in page and secret not in page
        # the token logs in to the registry in place of the password
        assert await reg.token("repository:jane/x:pull", user="$app", password=secret)
        bad = await jane.submit(SETTINGS, "/user/jane/apptokens", title="x", days="forever")
        assert bad.status_code == 422 and 'value="forever"' in bad.text
        untitled = await jane.submit(SETTINGS, "/user/jane/apptokens", title=" ")
        assert untitled.status_code == 422

        revoke = re.search(r'action="(/user/jane/apptokens/[^"]+/revoke)"', page)
        assert revoke is not None
        r = await jane.submit(SETTINGS, revoke.group(1))
        assert r.status_code == 303
        denied = await reg.http.get("/v2/auth", params={"service": "registry.test"}, auth=("$app", secret))
        assert denied.status_code == 401

        # someone else's account is not yours to change
        form = await jane.form(SETTINGS, "/user/jane/apptokens")
        r = await jane.http.post("/user/joe/apptokens", data={**form.fields, "title": "sneaky"})
        assert r.status_code == 403
        r = await jane.http.post(
            "/user/joe/password",
            data={**form.fields, "password": PW, "new_password": "x" * 9, "new_password_again": "x" * 9},
        )
        assert r.status_code == 403
    finally:
        await jane.close()
