"""The Security section of an organization's settings tab (issue 16): the pull policy and the SBOM
attachment, changed through the same service as the API; refusals on the form's own page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.web.test_form_errors import refused
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import accounts
from wharf.services import secscan_settings

TAB = "/organization/acme?tab=settings"
ACTION = "/organization/acme/securitysettings"


@pytest.fixture
async def owner(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def stored(wharf: WharfApp) -> secscan_settings.SecuritySettings:
    org = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    return await secscan_settings.get(wharf.rt, org)


async def test_the_owner_sets_a_policy_and_an_sbom(owner: Visitor, wharf: WharfApp) -> None:
    page = " ".join((await owner.get(TAB)).text.split())
    assert "Pull policy" in page and "The registry's default: no policy" in page
    r = await owner.submit(
        TAB, ACTION, policy="on", severity="Critical", exempt_robots="on", sbom_format="cyclonedx"
    )
    assert r.status_code == 303, r.text
    found = await stored(wharf)
    assert found.own_policy is not None
    assert (found.own_policy.severity, found.own_policy.fixable_only, found.own_policy.exempt_robots) == (
        "Critical",
        True,
        True,
    )
    assert found.sbom_format == "cyclonedx"
    # The form shows what is stored: submitting it unchanged keeps it.
    page = (await owner.get(TAB)).text
    assert '<option value="Critical" selected>' in page
    assert '<option value="cyclonedx" selected>' in page
    r = await owner.submit(TAB, ACTION, severity="Critical", sbom_format="cyclonedx")
    assert r.status_code == 303
    assert await stored(wharf) == found

    # "No policy", then back to the registry's default.
    await owner.submit(TAB, ACTION, policy="off", severity="High", sbom_format="")
    off = await stored(wharf)
    assert off.own_policy is not None and off.own_policy.severity is None and off.sbom_format is None
    await owner.submit(TAB, ACTION, policy="default", severity="High", sbom_format="")
    assert (await stored(wharf)).own_policy is None


async def test_refusals_on_the_form(owner: Visitor, wharf: WharfApp) -> None:
    r = await owner.submit(TAB, ACTION, policy="on", severity="Severe", sbom_format="")
    assert "must be one of" in refused(r, "severity").message
    r = await owner.submit(TAB, ACTION, policy="default", severity="High", sbom_format="xml")
    assert "cyclonedx, spdx" in refused(r, "sbom_format").message
    assert (await stored(wharf)).sbom_format is None


async def test_only_admins(wharf: WharfApp, world: World) -> None:
    v = Visitor(wharf)
    await v.sign_in("reader", PW)
    try:
        assert (await v.get(TAB)).status_code == 403
        form = await v.form("/", "/signout")  # any page's token will do for the post
        r = await v.http.post(ACTION, data={**form.fields, "policy": "off", "severity": "High"})
        assert r.status_code == 403
    finally:
        await v.close()
