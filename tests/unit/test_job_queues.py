"""jobs/runner.py spells the queue names of the jobs whose services it imports lazily: they must
stay those the services enqueue."""

from __future__ import annotations

from wharf.jobs import runner
from wharf.services import directory_sync, mirroring, org_mirroring


def test_the_runner_claims_the_queues_the_services_enqueue() -> None:
    assert runner.TEAM_SYNC_QUEUE == directory_sync.TEAM_SYNC_QUEUE
    assert runner.USER_CHECK_QUEUE == directory_sync.USER_CHECK_QUEUE
    assert runner.MIRROR_QUEUE == mirroring.QUEUE
    assert runner.MIRROR_SCHEDULE_QUEUE == mirroring.SCHEDULE_QUEUE
    assert runner.ORG_MIRROR_QUEUE == org_mirroring.QUEUE
    assert runner.ORG_MIRROR_SCHEDULE_QUEUE == org_mirroring.SCHEDULE_QUEUE
    assert {
        directory_sync.TEAM_SYNC_QUEUE,
        mirroring.QUEUE,
        mirroring.SCHEDULE_QUEUE,
        org_mirroring.QUEUE,
        org_mirroring.SCHEDULE_QUEUE,
    } <= set(runner.HANDLERS)
