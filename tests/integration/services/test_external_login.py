"""The OIDC login use case called directly (services/external_login.py), against a real issuer:
begin and complete without a browser, the outbound guard between Wharf and the provider, and
the refusals the surfaces word. The browser's side is tests/integration/identity/test_oidc_login.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import TEST_HOSTNAME
from tests.oidc_issuer import Issuer, running_issuer
from wharf.app import WharfApp, build_app
from wharf.config import load_settings
from wharf.core import accounts, audit
from wharf.runtime import Runtime
from wharf.services import external_login
from wharf.services.external_login import ExternalLoginFailed, LastWayIn


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


@pytest.fixture
async def make_rt(wharf: WharfApp, data_dir: Path, db_uri: str | None, issuer: Issuer) -> AsyncIterator[Any]:
    """Runtimes on this test's database (migrated by `wharf`) with a Keycloak login."""
    made: list[WharfApp] = []

    def make(**more: Any) -> Runtime:
        config = {
            "OIDC_SERVER": issuer.url,
            "CLIENT_ID": issuer.client_id,
            "CLIENT_SECRET": issuer.client_secret,
            "DEBUGGING": True,
        }
        overrides = {
            "DATA_DIR": data_dir,
            "DB_URI": db_uri,
            "SERVER_HOSTNAME": TEST_HOSTNAME,
            "KEYCLOAK_LOGIN_CONFIG": config,
            "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],
            **more,
        }
        app = build_app(load_settings(None, overrides, environ={}), run_workers=False)
        made.append(app)
        return app.rt

    yield make
    for app in made:
        await app.rt.close()


def _approve(issuer: Issuer, auth_url: str) -> tuple[str, str]:
    """The provider's answer to the authorization URL: (code, state)."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    back = parse_qs(urlsplit(issuer.authorize(query)).query)
    return back["code"][0], back["state"][0]


async def test_begin_and_complete(make_rt: Any, issuer: Issuer) -> None:
    rt = make_rt()
    begun = await external_login.begin(
        rt, "keycloak", intent="login", account_id=None, redirect="/r", browser=None
    )
    code, state = _approve(issuer, begun.auth_url)
    done = await external_login.complete(
        rt, "keycloak", code=code, state=state, browser=begun.browser, ip=None
    )
    account = await rt.db.read(accounts.get_by_id, done.account_id)
    assert account is not None and account.name == "jane.doe"
    assert (done.intent, done.redirect) == ("login", "/r")
    # the same browser keeps its binding for the next login
    again = await external_login.begin(
        rt, "keycloak", intent="login", account_id=None, redirect="/", browser=begun.browser
    )
    assert again.browser == begun.browser

    # the account's only way in stays
    by = audit.Actor(account.id, account.name, None)
    with pytest.raises(LastWayIn):
        await external_login.detach(rt, account.id, "keycloak", by)
    assert not await external_login.detach(rt, account.id, "dex", by)
    assert [link.service_id for link in await external_login.linked(rt, account.id)] == ["keycloak"]


async def test_unknown_providers_and_intents_are_refused(make_rt: Any) -> None:
    rt = make_rt()
    with pytest.raises(ExternalLoginFailed, match="no login provider 'dex'"):
        await external_login.begin(rt, "dex", intent="login", account_id=None, redirect="/", browser=None)
    with pytest.raises(ExternalLoginFailed, match="needs a signed-in account"):
        await external_login.begin(
            rt, "keycloak", intent="attach", account_id=None, redirect="/", browser=None
        )


async def test_the_provider_is_called_through_the_outbound_guard(make_rt: Any, issuer: Issuer) -> None:
    # without SSRF_ALLOWED_HOSTS, a provider on an internal address is not called
    rt = make_rt(SSRF_ALLOWED_HOSTS=[])
    with pytest.raises(ExternalLoginFailed, match="internal address"):
        await external_login.begin(
            rt, "keycloak", intent="login", account_id=None, redirect="/", browser=None
        )
    assert issuer.requests == []
    # nor through a discovery document cached while the address was allowed
    await external_login.begin(
        make_rt(), "keycloak", intent="login", account_id=None, redirect="/", browser=None
    )
    with pytest.raises(ExternalLoginFailed, match="internal address"):
        await external_login.begin(
            rt, "keycloak", intent="login", account_id=None, redirect="/", browser=None
        )


async def test_a_provider_that_cannot_be_reached(make_rt: Any) -> None:
    rt = make_rt(
        KEYCLOAK_LOGIN_CONFIG={
            "OIDC_SERVER": "http://127.0.0.1:9",
            "CLIENT_ID": "c",
            "CLIENT_SECRET": "s",
            "DEBUGGING": True,
        }
    )
    with pytest.raises(ExternalLoginFailed, match="cannot be reached"):
        await external_login.begin(
            rt, "keycloak", intent="login", account_id=None, redirect="/", browser=None
        )
