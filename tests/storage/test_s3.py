import pytest

from tests.storage.driver_suite import DriverSuite


class TestS3(DriverSuite):
    @pytest.fixture
    def store(self, s3_store):  # type: ignore[no-untyped-def]
        return s3_store
