from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.server import WharfServer


@pytest.fixture
def server(tmp_path: Path, db_uri: str | None) -> Iterator[WharfServer]:
    srv = WharfServer(tmp_path / "data", "process-test-pw", db_uri=db_uri)
    srv.start()
    yield srv
    srv.stop()
