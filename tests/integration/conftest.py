from __future__ import annotations

import httpx
import pytest

from tests.integration.registry_client import RegistryClient
from tests.integration.world import World, build_world
from wharf.app import WharfApp


@pytest.fixture
def reg(client: httpx.AsyncClient, wharf: WharfApp) -> RegistryClient:
    return RegistryClient(client, wharf)


@pytest.fixture
async def world(reg: RegistryClient) -> World:
    return await build_world(reg)
