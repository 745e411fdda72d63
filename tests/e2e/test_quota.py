"""A push over a Reject limit as a real client shows it (skopeo, on podman's image library): the
OCI error's message names the namespace, how full it is and what to do; pulls still work."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import CLIENT_TOOLS, SERVER_KIND, Clients, Server, admin_api, creds_args, require_tools

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("quotas are Wharf's (and Quay's)", allow_module_level=True)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"WHARF_FEATURE_QUOTA_MANAGEMENT": "true"}


def test_a_client_sees_the_quota_refusal(server: Server, clients: Clients, images: BuiltImages) -> None:
    api = admin_api(server)
    assert api.post("/superuser/users/admin/quota", json={"limit": "1 KiB"}).status_code == 201
    [quota] = api.get("/user/quota").json()
    # a user's limits are set on Quay's organization path, as Quay does
    r = api.post(
        f"/organization/admin/quota/{quota['id']}/limit", json={"type": "Reject", "threshold_percent": 100}
    )
    assert r.status_code == 201, r.text
    ref = f"docker://{server.host}/admin/e2e-quota"
    dest = creds_args(server.creds, "--dest-creds")
    # the first image crosses the limit from an empty namespace: accepted
    clients.run("skopeo", "copy", "--dest-tls-verify=false", *dest, images.busybox_oci, f"{ref}:first")
    refused = clients.run(
        "skopeo", "copy", "--dest-tls-verify=false", *dest, images.layers_oci, f"{ref}:second", check=False
    )
    assert refused.returncode != 0
    assert "quota exceeded for namespace admin" in refused.stderr, refused.stderr
    assert "delete tags or ask an administrator" in refused.stderr
    pulled = clients.skopeo_inspect(f"{ref}:first", server.creds)
    assert pulled["Digest"].startswith("sha256:")
