"""The autoprune job (jobs/autoprune.py, services/retention.py): the registry default, batches,
what it leaves alone, and its place among the periodic jobs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import Clock
from tests.integration.world import World
from wharf.config import Settings, load_settings
from wharf.core import repositories
from wharf.jobs import runner
from wharf.services import retention

REPO = "acme/app"


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "FEATURE_AUTO_PRUNE": True,
        "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": {"method": "number_of_tags", "value": 2},
        "AUTOPRUNE_BATCH_SIZE": 2,
    }
    return load_settings(None, overrides, environ={})


async def _alive(world: World, repo: str = REPO) -> list[str]:
    r = await world.reg.http.get(
        f"/api/v1/repository/{repo}/tag/", params={"onlyActiveTags": "true"}, headers=world.api["owner"]
    )
    return sorted(t["name"] for t in r.json()["tags"])


async def _push(world: World, repo: str, names: list[str], clock: Clock) -> None:
    for name in names:
        await world.reg.push_image(repo, name, layers=0)
        clock.advance(1)


async def test_the_registry_default_prunes_in_batches_where_no_policy_is_set(
    world: World, clock: Clock
) -> None:
    rt = world.reg.wharf.rt
    assert "autoprune" in runner.periodic(rt)
    await _push(world, REPO, [f"t{i}" for i in range(7)], clock)
    await _push(world, "acme/pub", ["a", "b", "c"], clock)
    report = await retention.apply(rt)
    assert (report.pruned, report.repositories) == (6, 2)  # 5 in batches of 2, and 1
    assert await _alive(world) == ["t5", "t6"]
    assert await _alive(world, "acme/pub") == ["b", "c"]
    # a namespace with a policy of its own is no longer under the default
    r = await world.reg.http.post(
        "/api/v1/organization/acme/autoprunepolicy/",
        json={"method": "number_of_tags", "value": 5},
        headers=world.api["owner"],
    )
    assert r.status_code == 201
    await _push(world, REPO, ["u1", "u2"], clock)
    while await runner.run_once(rt):
        pass
    assert await _alive(world) == ["t5", "t6", "u1", "u2"]


async def test_a_mirror_is_left_alone_and_a_bad_default_is_said_and_ignored(
    world: World, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    rt = world.reg.wharf.rt
    await _push(world, REPO, ["a", "b", "c"], clock)
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    await rt.db.write(repositories.set_state, repo, repositories.MIRROR, None)
    assert (await retention.apply(rt)).pruned == 0
    await rt.db.write(repositories.set_state, repo, repositories.NORMAL, None)
    bad = rt.settings.model_copy(
        update={"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": {"method": "by_size", "value": 1}}
    )
    object.__setattr__(rt, "settings", bad)
    with caplog.at_level(logging.ERROR, logger="wharf.autoprune"):
        assert (await retention.apply(rt)).pruned == 0
    assert "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY is not a valid policy" in caplog.text
    assert await _alive(world) == ["a", "b", "c"]


async def test_the_preview_says_what_a_run_would_do(world: World, clock: Clock) -> None:
    rt = world.reg.wharf.rt
    await _push(world, REPO, ["v1", "x", "y", "z"], clock)
    on = rt.settings.model_copy(update={"FEATURE_IMMUTABLE_TAGS": True})
    object.__setattr__(rt, "settings", on)
    r = await world.reg.http.post(
        f"/api/v1/repository/{REPO}/immutabilitypolicy/",
        json={"tagPattern": "^v"},
        headers=world.api["owner"],
    )
    assert r.status_code == 201
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    plan = await retention.preview(rt, repo)
    assert [t.name for t in plan.freeze] == ["v1"]
    assert [t.name for t in plan.prune] == ["x"]  # keeps y and z; v1 is about to be immutable
    assert await _alive(world) == ["v1", "x", "y", "z"]  # a preview changes nothing
