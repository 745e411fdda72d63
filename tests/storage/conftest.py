"""An empty S3 store per test: a fresh key prefix in the bucket of the session's SeaweedFS server
(the `seaweed` fixture comes from tests/seaweed.py through tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.seaweed import SeaweedS3, unique_prefix
from wharf.storage.s3 import S3BlobStore


@pytest.fixture
def s3_store(seaweed: SeaweedS3) -> S3BlobStore:
    return S3BlobStore(seaweed.options(prefix=unique_prefix()))
