"""Webhooks over HTTPS present Wharf's client certificate (WEBHOOK_CLIENT_CERT), so a receiver
that requires one can tell the call came from this registry; a real TLS server checks it."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.world import World
from tests.receivers import HttpReceiver, http_receiver
from wharf.config import Settings, load_settings
from wharf.jobs import runner

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Key, issuer: str, issuer_key: Key, *, ca: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: Key | None = None) -> Path:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        pem += key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    path.write_bytes(pem)
    return path


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test CA", ca_key, "Test CA", ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": _write(tmp_path / "ca.pem", ca),
        "server": _write(
            tmp_path / "server.pem", _cert("receiver", server_key, "Test CA", ca_key), server_key
        ),
        "client": _write(
            tmp_path / "client.pem", _cert("wharf-sender", client_key, "Test CA", ca_key), client_key
        ),
    }


@pytest.fixture
def settings(
    data_dir: object, db_uri: str | None, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # Wharf trusts the test CA the way an operator's system would: through OpenSSL's default paths.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))
    return load_settings(
        None,
        {
            "DATA_DIR": data_dir,
            "DB_URI": db_uri,
            "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
            "NOTIFICATION_RETRY_DELAY_S": 0,
            "WEBHOOK_CLIENT_CERT": str(pki["client"]),
        },
        environ={},
    )


@pytest.fixture
def tls_receiver(pki: dict[str, Path]) -> Iterator[HttpReceiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca"]))
    context.load_cert_chain(pki["server"])
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    with http_receiver(tls=context) as receiver:
        yield receiver


async def test_https_webhook_presents_the_client_certificate(
    world: World, tls_receiver: HttpReceiver
) -> None:
    body = {"event": "repo_push", "method": "webhook", "config": {"url": tls_receiver.url}, "eventConfig": {}}
    r = await world.reg.http.post(
        "/api/v1/repository/acme/app/notification/", json=body, headers=world.api["owner"]
    )
    assert r.status_code == 201, r.text
    await world.reg.push_image("acme/app", "v1")
    while await runner.run_once(world.reg.wharf.rt):
        pass
    [got] = tls_receiver.wait_for(1)
    assert json.loads(got.body)["updated_tags"] == ["v1"]
    assert got.peer_cert is not None
    subject = dict(pair[0] for pair in got.peer_cert["subject"])
    assert subject["commonName"] == "wharf-sender"
