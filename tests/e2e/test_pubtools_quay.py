"""pubtools-quay, the tool Red Hat publishes container images to Quay with, against a real `wharf serve`.

Its QuayClient (registry side), QuayApiClient (API side), ContentExtractor, ManifestListMerger and
ImageUntagger run unchanged; content is pushed by skopeo. It is the witness that Quay's scripts work:
it keeps one registry token per client and renews it only on a 401 challenge (a 403 fails it), asks
for manifests one type at a time and reads Content-Type, and deletes what may not be there.

Image references name a registry that is not contacted (`registry.example/NS/REPO:TAG`): pubtools-quay
takes only the repository and tag from them and connects to the host it was given, and it splits
references on ':' in places, which a host with a port would confuse.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    SERVER_KIND,
    Clients,
    Server,
    admin_api,
    creds_args,
    require_tools,
    sha256_digest,
)

require_tools("skopeo")
if SERVER_KIND != "wharf":
    pytest.skip("pubtools-quay needs Quay's /api/v1", allow_module_level=True)
with warnings.catch_warnings():
    # pubtools imports pkg_resources, which warns that it is deprecated
    warnings.simplefilter("ignore")
    quay_client = pytest.importorskip("pubtools._quay.quay_client", reason="pubtools-quay is not installed")
    from pubtools._quay.image_untagger import ImageUntagger
    from pubtools._quay.item_processor import ContentExtractor
    from pubtools._quay.manifest_list_merger import ManifestListMerger
    from pubtools._quay.quay_api_client import QuayApiClient
    from pubtools._quay.quay_client import QuayClient

pytestmark = pytest.mark.e2e

REF = "registry.example"
LIST = QuayClient.MANIFEST_LIST_TYPE
V2S2 = QuayClient.MANIFEST_V2S2_TYPE


@pytest.fixture
def server(tmp_path: Path, db_uri: str | None) -> Iterator[Server]:
    """pubtools-quay sends its host, scheme included, as the Host header (`Host: http://...`), as
    Quay's own configuration would not mind: Wharf is told its name, as Quay is, by SERVER_HOSTNAME."""
    srv = Server(tmp_path / "server", db_uri=db_uri)
    srv.settings_env["WHARF_SERVER_HOSTNAME"] = srv.host
    srv.workdir.mkdir(parents=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        print(f"--- wharf log ({srv.log_path}) ---\n{srv.log_tail()}")


def _client(server: Server) -> QuayClient:
    return QuayClient(ADMIN_USER, ADMIN_PASSWORD, server.url)


def _api_token(server: Server) -> str:
    with admin_api(server) as api:
        return str(api.headers["Authorization"]).removeprefix("Bearer ")


def _push_busybox(clients: Clients, server: Server, images: BuiltImages, repo: str, *tags: str) -> None:
    """The busybox image as built (Docker schema 2), tagged `tags` in `repo`, by skopeo."""
    for tag in tags:
        clients.run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            *creds_args(server.creds, "--dest-creds"),
            images.busybox_dir,
            f"docker://{server.host}/{repo}:{tag}",
        )


def _variant(server: Server, qc: QuayClient, repo: str, source_tag: str, arch: str) -> str:
    """A copy of the image at `source_tag` whose configuration says `arch`, uploaded through
    QuayClient; returns its digest (a second platform without building one)."""
    manifest: dict[str, Any] = qc.get_manifest(f"{REF}/{repo}:{source_tag}", media_type=V2S2)
    auth = server.auth_headers(f"repository:{repo}:pull,push")
    config = httpx.get(
        f"{server.url}/v2/{repo}/blobs/{manifest['config']['digest']}", headers=auth, timeout=30
    )
    assert config.status_code == 200, config.text
    doc = json.loads(config.content)
    doc["architecture"] = arch
    body = json.dumps(doc).encode()
    r = httpx.post(
        f"{server.url}/v2/{repo}/blobs/uploads/",
        params={"digest": sha256_digest(body)},
        content=body,
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    variant = copy.deepcopy(manifest)
    variant["config"] = {**manifest["config"], "digest": sha256_digest(body), "size": len(body)}
    raw = json.dumps(variant, sort_keys=True, indent=4)
    qc.upload_manifest(raw, f"{REF}/{repo}:{arch}", raw=True)
    return sha256_digest(raw.encode())


def _manifest_list(entries: list[tuple[str, str]], sizes: dict[str, int]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": LIST,
        "manifests": [
            {"mediaType": V2S2, "digest": d, "size": sizes[d], "platform": {"os": "linux", "architecture": a}}
            for a, d in entries
        ],
    }


def _archs(manifest_list: Any) -> list[str]:
    return sorted(m["platform"]["architecture"] for m in manifest_list["manifests"])


def test_quay_client_pulls_then_pushes_with_one_token(
    server: Server, clients: Clients, images: BuiltImages
) -> None:
    """A pull token, then a push: the 401 challenge names pull,push and the client renews its token
    (with a 403 every push after a pull failed). Manifests come back in the type asked for."""
    repo = "admin/pq-client"
    _push_busybox(clients, server, images, repo, "v1")
    qc = _client(server)
    raw = qc.get_manifest(f"{REF}/{repo}:v1", media_type=V2S2, raw=True)
    assert isinstance(raw, str) and json.loads(raw)["mediaType"] == V2S2
    assert qc.get_manifest_digest(f"{REF}/{repo}:v1", media_type=V2S2) == clients.skopeo_digest(
        f"docker://{server.host}/{repo}:v1", server.creds
    )
    # the same client pushes: its token carries pull only, the challenge sends it for a new one
    qc.upload_manifest(raw, f"{REF}/{repo}:v2", raw=True)
    assert qc.get_repository_tags(repo) == {"name": repo, "tags": ["v1", "v2"]}
    # a repository not created yet: a plain 404 after the token dance, not a refusal
    with pytest.raises(requests.HTTPError) as missing:
        qc.get_repository_tags("admin/pq-client-new")
    assert missing.value.response is not None and missing.value.response.status_code == 404
    # no type asked for: the client tries the list type first, then schema 2, and keeps what it got
    unasked = qc.get_manifest(f"{REF}/{repo}:v2")
    assert unasked["mediaType"] == V2S2
    # asking for a type the image is not: the image as stored, which the client refuses by name
    with pytest.raises(quay_client.ManifestTypeError):
        qc.get_manifest(f"{REF}/{repo}:v1", media_type=LIST)


def test_manifest_list_merger_and_content_extractor(
    server: Server, clients: Clients, images: BuiltImages
) -> None:
    repo = "admin/pq-merge"
    _push_busybox(clients, server, images, repo, "amd64")
    qc = _client(server)
    amd = qc.get_manifest_digest(f"{REF}/{repo}:amd64", media_type=V2S2)
    arm = _variant(server, qc, repo, "amd64", "arm64")
    ppc = _variant(server, qc, repo, "amd64", "ppc64le")
    sizes = {
        d: len(str(qc.get_manifest(f"{REF}/{repo}@{d}", media_type=V2S2, raw=True)).encode())
        for d in (amd, arm, ppc)
    }
    qc.upload_manifest(_manifest_list([("amd64", amd), ("arm64", arm)], sizes), f"{REF}/{repo}:new")
    qc.upload_manifest(_manifest_list([("amd64", amd), ("ppc64le", ppc)], sizes), f"{REF}/{repo}:old")

    # a fresh client for each side, as the merger is used: it pulls both lists, then pushes
    merger = ManifestListMerger(f"{REF}/{repo}:new", f"{REF}/{repo}:old")
    merger.set_quay_clients(_client(server), _client(server))
    merger.merge_manifest_lists()
    merged = qc.get_manifest(f"{REF}/{repo}:old", media_type=LIST)
    assert _archs(merged) == ["amd64", "arm64", "ppc64le"]

    # the tag-docker variant: only the eligible architectures of the source, and what the
    # destination has of the others; here the destination is in a repository not created yet
    # (its 404 means "nothing to keep")
    selected = ManifestListMerger(f"{REF}/{repo}:new", f"{REF}/admin/pq-merge-dest:latest")
    selected.set_quay_clients(_client(server), _client(server))
    assert _archs(selected.merge_manifest_lists_selected_architectures(["arm64"])) == ["arm64"]
    kept = ManifestListMerger(f"{REF}/{repo}:new", f"{REF}/{repo}:old")
    kept.set_quay_clients(_client(server), _client(server))
    assert _archs(kept.merge_manifest_lists_selected_architectures(["arm64"])) == [
        "amd64",
        "arm64",
        "ppc64le",
    ]

    # what a push reads back: the list, and for schema 2 the list's linux/amd64 image
    extractor = ContentExtractor(_client(server), sleep_time=0)
    found = extractor.extract_manifests(f"{REF}/{repo}:new", media_types=None)
    assert [(m.type_, m.arch, m.digest) for m in found] == [
        (LIST, "", qc.get_manifest_digest(f"{REF}/{repo}:new", media_type=LIST)),
        (V2S2, "amd64", amd),
    ]
    full = ContentExtractor(_client(server), sleep_time=0, full_extract=True)
    children = full.extract_manifests(f"{REF}/{repo}:new", media_types=[LIST])
    assert [(m.arch, m.digest) for m in children[1:]] == [("amd64", amd), ("arm64", arm)]
    assert sorted(extractor.extract_tags(repo)) == ["amd64", "arm64", "new", "old", "ppc64le"]
    assert extractor.extract_tags("admin/pq-nothing-here") == []


def test_api_client_and_image_untagger(server: Server, clients: Clients, images: BuiltImages) -> None:
    repo = "admin/pq-untag"
    _push_busybox(clients, server, images, repo, "v1", "v2", "v3")
    token = _api_token(server)
    api = QuayApiClient(token, server.url)

    # the API client's own session creates and lists, as scripts around pubtools-quay do
    created = api.session.post(
        "repository",
        json={"repository": "pq-made", "namespace": "admin", "visibility": "private", "description": ""},
    )
    assert created.status_code == 201, created.text
    tags = api.session.get(f"repository/{repo}/tag/")
    assert tags.status_code == 200, tags.text
    assert sorted(t["name"] for t in tags.json()["tags"]) == ["v1", "v2", "v3"]

    # untag v2: v1 and v3 still reference the image, so nothing is lost
    untagger = ImageUntagger([f"{REF}/{repo}:v2"], token, host=server.host)
    untagger.set_quay_client(_client(server))
    # ImageUntagger builds its API client for https://HOST; this server speaks plain HTTP
    untagger._quay_api_client = api
    assert untagger.untag_images() == []
    assert _client(server).get_repository_tags(repo)["tags"] == ["v1", "v3"]

    # deleting a tag or a repository that is not there is no error
    assert api.delete_tag(repo, "v2").status_code == 404
    assert api.delete_tag(repo, "v3").status_code == 204
    assert api.delete_repository("admin/pq-made").status_code == 204
    assert api.delete_repository("admin/pq-made").status_code == 204
    assert api.delete_repository("admin/pq-never-was").status_code == 204
    assert api.session.get("repository/admin/pq-made").status_code == 404
