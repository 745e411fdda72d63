"""A robot's credentials in every format Quay offers: podman and docker login, a Kubernetes pull
secret, a config.json and Mesos' docker.tar.gz; the token stays out of the page until revealed."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shlex
import tarfile
from collections.abc import AsyncIterator

import pytest
import yaml

from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import robots

PAGE = "/organization/acme/robots/ci"


@pytest.fixture
async def owner(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    r = await v.submit("/organization/acme?tab=robots", "/organization/acme/robots/new", name="ci")
    assert r.status_code == 303
    yield v
    await v.close()


async def _token(wharf: WharfApp) -> str:
    robot = await wharf.rt.db.read(robots.get_by_name, "acme+ci")
    assert robot is not None
    return wharf.rt.secrets.open(robot.token_ciphertext) or ""


def _copied(page: str) -> list[str]:
    """What the page's Copy buttons copy."""
    return [html.unescape(v) for v in re.findall(r'data-copy="([^"]*)"', page)]


async def test_the_token_is_shown_only_when_asked_for(owner: Visitor, wharf: WharfApp) -> None:
    token = await _token(wharf)
    hidden = await owner.get(PAGE)
    assert hidden.status_code == 200 and token not in hidden.text
    assert "Show the token and credentials" in hidden.text and "?credentials=1#credentials" in hidden.text
    shown = await owner.get(f"{PAGE}?credentials=1")
    assert token in shown.text and shown.headers["cache-control"] == "no-store"


async def test_every_format_holds_the_robot_and_its_token(owner: Visitor, wharf: WharfApp) -> None:
    token = await _token(wharf)
    page = (await owner.get(f"{PAGE}?credentials=1")).text
    copied = _copied(page)
    auth = base64.b64encode(f"acme+ci:{token}".encode()).decode()

    podman = next(shlex.split(c) for c in copied if c.startswith("podman login"))
    assert podman == ["podman", "login", "--tls-verify=false", "-u", "acme+ci", "-p", token, "registry.test"]
    docker = next(shlex.split(c) for c in copied if c.startswith("docker login"))
    assert docker == ["docker", "login", "-u", "acme+ci", "-p", token, "registry.test"]
    assert "insecure-registries" in page

    secret = yaml.safe_load(next(c for c in copied if c.startswith("apiVersion")))
    assert secret["kind"] == "Secret" and secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["name"] == "acme-ci-pull-secret"
    inner = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert inner == {"auths": {"registry.test": {"auth": auth}}}
    assert "kubectl create -f acme-ci-secret.yml --namespace=NAMESPACE" in copied

    config = json.loads(next(c for c in copied if c.startswith('{\n  "auths"')))
    assert config == {"auths": {"registry.test": {"auth": auth}}}
    assert "Mesos" in page and 'href="/organization/acme/robots/ci/credentials/docker.tar.gz"' in page


async def test_the_files_download(owner: Visitor, wharf: WharfApp) -> None:
    token = await _token(wharf)
    expected = {"auths": {"registry.test": {"auth": base64.b64encode(f"acme+ci:{token}".encode()).decode()}}}

    r = await owner.get(f"{PAGE}/credentials/secret.yml")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"] == 'attachment; filename="acme-ci-secret.yml"'
    secret = yaml.safe_load(r.text)
    assert json.loads(base64.b64decode(secret["data"][".dockerconfigjson"])) == expected

    r = await owner.get(f"{PAGE}/credentials/config.json")
    assert r.status_code == 200 and r.json() == expected

    r = await owner.get(f"{PAGE}/credentials/docker.tar.gz")
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        assert tar.getnames() == [".docker", ".docker/config.json"]
        member = tar.getmember(".docker/config.json")
        assert member.mode == 0o600
        extracted = tar.extractfile(member)
        assert extracted is not None and json.loads(extracted.read()) == expected

    assert (await owner.get(f"{PAGE}/credentials/passwd")).status_code == 404


async def test_only_the_namespace_admins_get_the_files(owner: Visitor, wharf: WharfApp) -> None:
    reader = Visitor(wharf)
    try:
        await reader.sign_in("reader", PW)
        for path in (f"{PAGE}?credentials=1", f"{PAGE}/credentials/config.json"):
            r = await reader.get(path)
            assert r.status_code in (403, 404) and await _token(wharf) not in r.text
    finally:
        await reader.close()
