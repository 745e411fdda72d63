from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import World, build_world
from wharf.app import WharfApp


@pytest.fixture
def reg(client: httpx.AsyncClient, wharf: WharfApp) -> RegistryClient:
    return RegistryClient(client, wharf)


@pytest.fixture
async def world(reg: RegistryClient) -> World:
    return await build_world(reg)


@pytest.fixture
async def admin(wharf: WharfApp) -> AsyncIterator[Visitor]:
    """A browser signed in to the web UI as the superuser `admin`."""
    v = Visitor(wharf)
    await v.sign_in("admin", ADMIN_PASSWORD)
    yield v
    await v.close()
