import pytest

from tests.storage.driver_suite import DriverSuite
from wharf.storage.filesystem import FilesystemStore


class TestFilesystem(DriverSuite):
    @pytest.fixture
    def store(self, tmp_path):  # type: ignore[no-untyped-def]
        return FilesystemStore(tmp_path / "store")
