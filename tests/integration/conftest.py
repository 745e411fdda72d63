from __future__ import annotations

import httpx
import pytest

from tests.integration.registry_client import RegistryClient
from wharf.app import WharfApp


@pytest.fixture
def reg(client: httpx.AsyncClient, wharf: WharfApp) -> RegistryClient:
    return RegistryClient(client, wharf)
