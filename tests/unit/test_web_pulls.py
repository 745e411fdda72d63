"""The pull commands the web pages offer: podman and skopeo skip TLS only on a plain-HTTP registry."""

from __future__ import annotations

from wharf.web.pulls import PullChoice

DIGEST = "sha256:" + "ab" * 32


def test_over_https_the_commands_are_plain() -> None:
    assert (
        PullChoice().command("reg.example", "acme/app", "v1", DIGEST) == "podman pull reg.example/acme/app:v1"
    )
    skopeo = PullChoice("skopeo", "digest").command("reg.example", "acme/app", "v1", DIGEST)
    assert skopeo == f"skopeo copy docker://reg.example/acme/app@{DIGEST} oci-archive:app-abababababab.tar"


def test_over_plain_http_podman_and_skopeo_do_not_try_tls() -> None:
    podman = PullChoice(plain_http=True).command("reg:8080", "acme/app", "v1", DIGEST)
    assert podman == "podman pull --tls-verify=false reg:8080/acme/app:v1"
    skopeo = PullChoice("skopeo", plain_http=True).command("reg:8080", "acme/app", "v1", DIGEST)
    assert skopeo.startswith("skopeo copy --src-tls-verify=false docker://reg:8080/acme/app:v1 ")
    # docker takes no such flag: its daemon's insecure-registries decides
    assert PullChoice("docker", plain_http=True).command("reg:8080", "acme/app", "v1", DIGEST) == (
        "docker pull reg:8080/acme/app:v1"
    )
