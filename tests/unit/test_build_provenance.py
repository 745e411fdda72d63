"""The provenance of built images: the SLSA statement, the DSSE signature, the build key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from wharf.core import build_provenance as prov
from wharf.core import build_signing as signing
from wharf.core.secretbox import SecretBox
from wharf.services.build_attestations import verify_bundle

DIGEST = "sha256:" + "ab" * 32
BASE = "sha256:" + "cd" * 32


def facts(**changes: Any) -> prov.BuildFacts:
    values: dict[str, Any] = {
        "builder_id": "https://wharf.example/builders",
        "wharf_version": "1.2.3",
        "build_uuid": "0b7e5c1a-1111-4222-8333-444455556666",
        "image": "wharf.example/acme/app",
        "digest": DIGEST,
        "dockerfile_path": "/sub/Dockerfile",
        "context": "/sub",
        "subdirectory": "sub",
        "tags": ["latest", "v1"],
        "source": {"archive_url": "https://git.example/app.tar.gz"},
        "started_ms": 1_765_000_000_000,
        "finished_ms": 1_765_000_042_000,
        "base_images": (prov.BaseImage("wharf.example/acme/base:1", BASE), prov.BaseImage("alpine:3")),
    }
    values.update(changes)
    return prov.BuildFacts(**values)


def test_the_statement_is_slsa_provenance_v1_about_the_pushed_digest() -> None:
    s = prov.statement(facts(trigger={"service": "github", "commit": "abc123", "ref": "refs/heads/main"}))
    assert s["_type"] == "https://in-toto.io/Statement/v1"
    assert s["predicateType"] == "https://slsa.dev/provenance/v1"
    assert s["subject"] == [{"name": "wharf.example/acme/app", "digest": {"sha256": "ab" * 32}}]
    definition = s["predicate"]["buildDefinition"]
    assert definition["buildType"] == prov.BUILD_TYPE
    assert definition["externalParameters"] == {
        "dockerfile": "/sub/Dockerfile",
        "context": "/sub",
        "subdirectory": "sub",
        "tags": ["latest", "v1"],
        "source": {"archive_url": "https://git.example/app.tar.gz"},
        "trigger": {"service": "github", "commit": "abc123", "ref": "refs/heads/main"},
    }
    assert definition["resolvedDependencies"] == [
        {"uri": "docker://wharf.example/acme/base:1", "digest": {"sha256": "cd" * 32}},
        {"uri": "docker://alpine:3"},  # pulled by buildah from elsewhere: no digest known
    ]
    run = s["predicate"]["runDetails"]
    assert run["builder"] == {"id": "https://wharf.example/builders", "version": {"wharf": "1.2.3"}}
    assert run["metadata"] == {
        "invocationId": "0b7e5c1a-1111-4222-8333-444455556666",
        "startedOn": "2025-12-06T05:46:40Z",
        "finishedOn": "2025-12-06T05:47:22Z",
    }
    # Without a trigger, the parameters say nothing of one.
    assert "trigger" not in prov.statement(facts())["predicate"]["buildDefinition"]["externalParameters"]


def test_pae_is_dsse_v1() -> None:
    assert prov.pae("application/example", b"hello world") == b"DSSEv1 19 application/example 11 hello world"


@pytest.fixture
def key(tmp_path: Path) -> signing.SigningKey:
    return signing.load_or_create(tmp_path / "keys" / signing.KEY_FILE_NAME, SecretBox("secret"))


def signed_bundle(key: signing.SigningKey, statement: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps(statement).encode()
    dsse = prov.envelope(payload, key.sign(prov.INTOTO_PAYLOAD_TYPE, payload), key.keyid)
    return prov.bundle(dsse, key.keyid)


def test_a_signed_bundle_verifies_and_a_tampered_one_does_not(key: signing.SigningKey) -> None:
    bundle = signed_bundle(key, prov.statement(facts()))
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": key.keyid}}
    found = verify_bundle(json.dumps(bundle).encode(), DIGEST, key.public_pem)
    assert found["predicate"]["runDetails"]["metadata"]["invocationId"] == facts().build_uuid

    # A statement changed after signing: another base image, same signature.
    forged = prov.statement(facts(base_images=(prov.BaseImage("evil/base", BASE),)))
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(prov.ProvenanceInvalid, match="no signature"):
        verify_bundle(json.dumps(bundle).encode(), DIGEST, key.public_pem)


def test_verification_needs_the_right_key_type_and_subject(key: signing.SigningKey, tmp_path: Path) -> None:
    data = json.dumps(signed_bundle(key, prov.statement(facts()))).encode()
    other = signing.load_or_create(tmp_path / "other.key", SecretBox("secret"))
    with pytest.raises(prov.ProvenanceInvalid, match="no signature"):
        verify_bundle(data, DIGEST, other.public_pem)
    with pytest.raises(prov.ProvenanceInvalid, match="not about"):
        verify_bundle(data, "sha256:" + "00" * 32, key.public_pem)
    with pytest.raises(prov.ProvenanceInvalid, match="not a Sigstore bundle"):
        verify_bundle(b"{}", DIGEST, key.public_pem)
    # The payload type is signed too: a statement re-labelled does not pass.
    relabelled = json.loads(data)
    relabelled["dsseEnvelope"]["payloadType"] = "application/json"
    with pytest.raises(prov.ProvenanceInvalid, match="payloadType"):
        verify_bundle(json.dumps(relabelled).encode(), DIGEST, key.public_pem)


def test_the_key_is_made_once_sealed_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / signing.KEY_FILE_NAME
    assert signing.public_key(path) is None
    first = signing.load_or_create(path, SecretBox("secret"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in path.read_text()  # sealed by the secret box
    assert signing.load_or_create(path, SecretBox("secret")) == first
    assert signing.public_key(path) == first.public_pem
    assert first.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    # A file sealed with another secret is refused, never replaced by a new key.
    with pytest.raises(RuntimeError, match="another secret key"):
        signing.load_or_create(path, SecretBox("another"))
