"""What a successful build attaches to the image it pushed (issue 20): a CycloneDX SBOM and a
signed SLSA provenance bundle as OCI referrers, listed by /v2's referrers API; the public key at
/build-signing-key.pub; `wharf builds verify` telling a good provenance from a forged one.

No buildah here: the image is pushed through /v2 as the builder's skopeo would, then attached
as the builder does after its push (tests/e2e/test_builds.py covers a real build)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.integration.jobs.test_secscan import BASE, OPENSSL, push_image
from tests.integration.registry_client import sha256
from tests.integration.world import World
from tests.process.test_cli import run
from wharf.core import build_provenance as prov
from wharf.core import repositories
from wharf.jobs import build_attest
from wharf.oci import mediatypes as mt
from wharf.oci.names import RepositoryName
from wharf.services import build_attestations

CDX = "application/vnd.cyclonedx+json"


def facts(digest: str, finished_ms: int = 1_765_000_010_000) -> prov.BuildFacts:
    return prov.BuildFacts(
        builder_id="http://localhost/builders",
        wharf_version="test",
        build_uuid="5f2b8c4e-0000-4000-8000-000000000001",
        image="localhost/acme/app",
        digest=digest,
        dockerfile_path="/Dockerfile",
        context="/",
        subdirectory="",
        tags=["v1"],
        source={"upload": "Dockerfile"},
        started_ms=1_765_000_000_000,
        finished_ms=finished_ms,
        base_images=(prov.BaseImage("localhost/acme/base:1", "sha256:" + "1" * 64),),
    )


async def attach(
    world: World, digest: str, finished_ms: int = 1_765_000_010_000
) -> build_attestations.Attached:
    rt = world.reg.wharf.rt
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    made = facts(digest, finished_ms)
    return await build_attestations.attach(rt.db, rt.store, rt.settings, rt.secrets, repo, made)


async def get(world: World, path: str, accept: str | None = None) -> Any:
    headers = await world.reg.headers("acme/app", "pull")
    if accept:
        headers["Accept"] = accept
    r = await world.reg.http.get(f"/v2/acme/app/{path}", headers=headers)
    assert r.status_code == 200, r.text
    return r


async def test_a_build_attaches_an_sbom_and_a_signed_provenance(world: World) -> None:
    digest = sha256(await push_image(world.reg, "acme/app", "v1", [BASE, OPENSSL]))
    attached = await attach(world, digest)
    assert attached.sbom is not None

    listed = (await get(world, f"referrers/{digest}")).json()["manifests"]
    by_type = {m["artifactType"]: m for m in listed}
    assert set(by_type) == {CDX, prov.BUNDLE_MEDIA_TYPE}
    assert by_type[CDX]["digest"] == attached.sbom
    assert by_type[prov.BUNDLE_MEDIA_TYPE]["digest"] == attached.provenance
    assert by_type[prov.BUNDLE_MEDIA_TYPE]["annotations"][prov.BUNDLE_PREDICATE_ANNOTATION] == (
        "https://slsa.dev/provenance/v1"
    )

    # The SBOM lists what the indexer finds in the pushed layers.
    manifest = (await get(world, f"manifests/{attached.sbom}", mt.OCI_MANIFEST)).json()
    assert manifest["subject"]["digest"] == digest
    bom = (await get(world, f"blobs/{manifest['layers'][0]['digest']}")).json()
    assert "libssl3" in {c["name"] for c in bom["components"]}

    # The provenance: the bundle layer, as cosign lays it out, verifies with the published key.
    manifest = (await get(world, f"manifests/{attached.provenance}", mt.OCI_MANIFEST)).json()
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == prov.BUNDLE_MEDIA_TYPE
    bundle = (await get(world, f"blobs/{layer['digest']}")).content
    key = await world.reg.http.get("/build-signing-key.pub")
    assert key.status_code == 200 and key.text.startswith("-----BEGIN PUBLIC KEY-----")
    statement = build_attestations.verify_bundle(bundle, digest, key.text)
    assert statement["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["tags"] == ["v1"]
    envelope = json.loads(bundle)["dsseEnvelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"

    # The same build attaching again (a run retried after its builder died past the push, which
    # finishes later, so its statement's bytes differ) keeps what the first run attached.
    again = await attach(world, digest, finished_ms=1_765_000_020_000)
    assert again == attached
    listed = (await get(world, f"referrers/{digest}")).json()["manifests"]
    assert sorted(m["artifactType"] for m in listed) == sorted([CDX, prov.BUNDLE_MEDIA_TYPE])


def _config(tmp_path: Path, db_uri: str | None, storage: dict[str, object]) -> list[str]:
    values: dict[str, object] = {**storage}
    if db_uri:
        values["DB_URI"] = db_uri
    path = tmp_path / "cli.yaml"
    path.write_text(json.dumps(values))  # YAML reads JSON
    return ["--config", str(path)]


async def test_the_cli_verifies_a_provenance_and_refuses_a_forged_one(
    world: World, data_dir: Path, tmp_path: Path, db_uri: str | None, storage_config: dict[str, object]
) -> None:
    args = ["--data-dir", str(data_dir), *_config(tmp_path, db_uri, storage_config)]
    good = sha256(await push_image(world.reg, "acme/app", "v1", [BASE]))
    attached = await attach(world, good)

    r = run("builds", "verify", f"acme/app@{good}", "--json", *args)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["verified"] is True and result["provenance"] == attached.provenance
    assert (
        result["statement"]["predicate"]["runDetails"]["metadata"]["invocationId"] == facts(good).build_uuid
    )
    r = run("builds", "verify", "acme/app:v1", *args)
    assert r.returncode == 0 and "verified" in r.stdout, r.stderr

    # Another image carries a copy of that bundle whose statement was changed after signing.
    forged_image = sha256(await push_image(world.reg, "acme/app", "v2", [OPENSSL]))
    manifest = (await get(world, f"manifests/{attached.provenance}", mt.OCI_MANIFEST)).json()
    bundle = json.loads((await get(world, f"blobs/{manifest['layers'][0]['digest']}")).content)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = forged_image.removeprefix("sha256:")
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    layer = json.dumps(bundle).encode()
    await world.reg.push_blob("acme/app", layer)
    await world.reg.push_blob("acme/app", prov.EMPTY_CONFIG)
    subject = await get(world, f"manifests/{forged_image}", mt.OCI_MANIFEST)
    body = prov.referrer(
        prov.BUNDLE_MEDIA_TYPE, layer, mt.OCI_MANIFEST, len(subject.content), forged_image, {}
    )
    assert (await world.reg.push_manifest("acme/app", sha256(body), body)).status_code == 201

    r = run("builds", "verify", "acme/app:v2", "--json", *args)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout) == {
        "image": "acme/app:v2",
        "verified": False,
        "reason": f"{sha256(body)}: no signature of the envelope verifies with the key",
    }
    # Another key does not verify the good one; an image never built has nothing to verify.
    other = tmp_path / "other.pub"
    other.write_text(run("builds", "signing-key", "--data-dir", str(tmp_path / "elsewhere")).stdout)
    r = run("builds", "verify", f"acme/app@{good}", "--key", str(other), *args)
    assert r.returncode == 1 and "no signature" in r.stderr
    unbuilt = sha256(await push_image(world.reg, "acme/app", "v3", [BASE, OPENSSL]))
    r = run("builds", "verify", f"acme/app@{unbuilt}", *args)
    assert r.returncode == 1 and "no provenance is attached" in r.stderr
    r = run("builds", "verify", "acme/app:nope", *args)
    assert r.returncode == 2 and "holds no image" in r.stderr
    r = run("builds", "verify", "app", *args)
    assert r.returncode == 2 and "not namespace/name" in r.stderr
    r = run("builds", "verify", "acme/app:v1", "--key", str(tmp_path / "missing.pub"), *args)
    assert r.returncode == 2 and "cannot read" in r.stderr


async def test_base_images_of_this_wharf_are_named_by_the_digest_of_their_tag(
    world: World,
) -> None:
    rt = world.reg.wharf.rt
    pushed = sha256(await push_image(world.reg, "acme/app", "base", [BASE]))
    images = [
        ("localhost/acme/app:base", RepositoryName("acme", "app")),
        ("localhost/acme/app", RepositoryName("acme", "app")),  # latest: there is none
        (f"localhost/acme/app@{pushed}", RepositoryName("acme", "app")),
        ("docker.io/library/alpine:3", None),  # pulled by buildah from elsewhere
    ]
    assert await build_attest.resolve_base_images(rt, images) == [
        prov.BaseImage("localhost/acme/app:base", pushed),
        prov.BaseImage("localhost/acme/app", None),
        prov.BaseImage(f"localhost/acme/app@{pushed}", pushed),
        prov.BaseImage("docker.io/library/alpine:3", None),
    ]
