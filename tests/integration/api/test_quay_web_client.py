"""What Quay's own web client and API tests read before anything else: /config, /csrf_token before
sign-in, /api/v1/error/{type}, Quay's /health/* bodies, getRegistryCapabilities and the Swagger 2.0
discovery document."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.integration.world import PW, World
from tests.unit.test_api_compat import WHARF_ONLY
from wharf.app import WharfApp, build_app
from wharf.config import load_settings

QUAY_ENDPOINTS = Path(__file__).resolve().parents[2] / "data" / "quay-api-endpoints.tsv"


async def test_config_is_quays_document(client: httpx.AsyncClient) -> None:
    r = await client.get("/config")
    assert r.status_code == 200
    doc = r.json()
    assert set(doc) >= {"config", "features", "oauth", "external_login", "registry_state"}
    assert doc["config"]["SERVER_HOSTNAME"] == "registry.test"
    assert doc["config"]["AUTHENTICATION_TYPE"] == "Database"
    assert doc["config"]["PREFERRED_URL_SCHEME"] == "http"
    assert (
        doc["features"]["SUPER_USERS"] is True and doc["features"]["BUILD_SUPPORT"] is True
    )  # FEATURE_BUILD_SUPPORT
    assert doc["features"]["USER_CREATION"] is True  # Wharf's own FEATURE_* settings
    assert doc["registry_state"] == "normal"


SECRETS = {
    "DATABASE_SECRET_KEY": "database-secret-key-value",
    "MAIL_PASSWORD": "mail-password-value",
    "MAIL_USERNAME": "mail-username-value",
    "DB_URI": "postgresql://wharf:db-password-value@db.internal/wharf",
    # keys Quay's config files carry that Wharf keeps as extras
    "SECRET_KEY": "flask-secret-value",
    "GITHUB_LOGIN_CONFIG": {"CLIENT_SECRET": "github-client-secret-value"},
    "REGISTRY_TITLE": "Harbour Registry",
}


async def test_config_leaks_no_secret(data_dir: Path) -> None:
    settings = load_settings(None, {"DATA_DIR": data_dir, **SECRETS, "SERVER_HOSTNAME": "quay.example"}, {})
    app = build_app(settings, run_workers=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
            r = await c.get("/config")
    finally:
        await app.rt.close()
    assert r.status_code == 200
    for value in ("database-secret-key-value", "mail-password-value", "mail-username-value"):
        assert value not in r.text
    for value in ("db-password-value", "flask-secret-value", "github-client-secret-value"):
        assert value not in r.text
    assert not [k for k in r.json()["config"] if "SECRET" in k or "PASSWORD" in k or "KEY" in k]
    assert r.json()["config"]["REGISTRY_TITLE"] == "Harbour Registry"  # a harmless extra is shown
    assert r.json()["config"]["SERVER_HOSTNAME"] == "quay.example"


async def test_anonymous_csrf_token_signs_in_as_quays_web_client(world: World) -> None:
    http = world.reg.http
    r = await http.get("/csrf_token")
    assert r.status_code == 200
    token = r.json()["csrf_token"]
    assert token and "HttpOnly" in r.headers["set-cookie"]
    assert (await http.get("/csrf_token")).json()["csrf_token"] == token  # stable until sign-in

    body = {"username": "owner", "password": PW}
    r = await http.post("/api/v1/signin", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]  # as Quay: no token, no sign-in
    r = await http.post("/api/v1/signin", json=body, headers={"X-CSRF-Token": token[:-1] + "x"})
    assert r.status_code == 403
    r = await http.post("/api/v1/signin", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json() == {"success": True}

    # signed in, /csrf_token answers the session's token, which the next change presents
    session_token = (await http.get("/csrf_token")).json()["csrf_token"]
    assert session_token == r.headers["X-Next-CSRF-Token"] != token
    assert (await http.get("/api/v1/user/")).json()["username"] == "owner"
    r = await http.post("/api/v1/signout", headers={"X-CSRF-Token": session_token})
    assert r.status_code == 200


async def test_another_browsers_token_does_not_sign_in(world: World) -> None:
    token = (await world.reg.http.get("/csrf_token")).json()["csrf_token"]
    transport = httpx.ASGITransport(app=world.reg.wharf)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as other:
        r = await other.post(
            "/api/v1/signin", json={"username": "owner", "password": PW}, headers={"X-CSRF-Token": token}
        )
    assert r.status_code == 403 and "set-cookie" not in r.headers


async def test_error_types_are_described(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get("/api/v1/repository/acme/app", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    link = r.json()["type"]
    assert link == "http://registry.test/api/v1/error/invalid_token"
    r = await client.get(link)
    assert r.status_code == 200
    assert r.json()["title"] == "invalid_token" and r.json()["type"] == link and r.json()["description"]
    for error_type in ("invalid_request", "insufficient_scope", "not_found", "tag_immutable"):
        r = await client.get(f"/api/v1/error/{error_type}")
        assert r.status_code == 200 and r.json()["title"] == error_type
    r = await client.get("/api/v1/error/no_such_error")
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"


def test_every_error_type_in_use_is_described() -> None:
    from wharf.api.errors import ERROR_DESCRIPTIONS

    source = Path(__file__).resolve().parents[3] / "src" / "wharf"
    used = {
        m.group(1)
        for path in source.rglob("*.py")
        for m in re.finditer(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', path.read_text())
    }
    assert used and used <= set(ERROR_DESCRIPTIONS)


async def test_registry_capabilities(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/registry/capabilities")
    assert r.status_code == 200
    assert r.json()["sparse_manifests"] == {
        "supported": False,
        "required_architectures": [],
        "optional_architectures_allowed": False,
    }
    assert r.json()["mirror_architectures"] == ["amd64", "arm64", "ppc64le", "s390x"]


@pytest.mark.parametrize("kind", ["instance", "endtoend", "warning"])
async def test_quay_health_bodies(client: httpx.AsyncClient, kind: str) -> None:
    r = await client.get(f"/health/{kind}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status_code"] == 200
    services = body["data"]["services"]
    assert all(v is True for v in services.values())
    if kind == "warning":
        assert set(services) == {"disk_space_warning"}
    else:
        assert {"database", "storage", "auth"} <= set(services)
    assert body["data"]["notes"] == [] and body["data"]["is_testing"] is False
    # Wharf's own health endpoints keep their shape
    assert (await client.get("/health")).json()["status"] == "ok"
    assert (await client.get("/health/ready")).json()["status"] == "ready"
    assert (await client.get("/health/nonsense")).status_code == 404


async def test_quay_health_fails_with_503_when_storage_fails(wharf: WharfApp) -> None:
    store = wharf.rt.settings.storage_path
    if wharf.rt.settings.DISTRIBUTED_STORAGE_CONFIG or not store.exists():
        pytest.skip("storage is not on the local filesystem")
    moved = store.with_name("storage-away")
    store.rename(moved)  # the driver's root is gone: it cannot write
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wharf), base_url="http://x") as c:
            r = await c.get("/health/endtoend")
            instance = await c.get("/health/instance")
    finally:
        moved.rename(store)
    assert r.status_code == 503 and instance.status_code == 503
    assert r.json()["status_code"] == 503 and r.json()["data"]["services"]["storage"] is False
    assert r.json()["data"]["services"]["database"] is True


async def test_discovery_is_swagger_2(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/discovery")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)  # a Swagger 2.0 validator: it refuses OpenAPI 3 constructs
    assert doc["swagger"] == "2.0"
    assert doc["host"] == "registry.test" and doc["basePath"] == "/" and doc["schemes"] == ["http"]
    assert doc["securityDefinitions"]["oauth2_implicit"]["authorizationUrl"] == (
        "http://registry.test/oauth/authorize"
    )
    assert "repo:read" in doc["securityDefinitions"]["oauth2_implicit"]["scopes"]
    assert "ApiError" in doc["definitions"]
    tags = doc["paths"]["/api/v1/repository/{repository}/tag/"]["get"]
    assert tags["operationId"] == "listRepoTags" and tags["tags"] == ["tag"]
    assert {p["name"] for p in tags["parameters"]} >= {"repository", "onlyActiveTags", "limit", "page"}
    create = doc["paths"]["/api/v1/repository"]["post"]
    body = next(p for p in create["parameters"] if p["in"] == "body")
    assert body["schema"] == {"$ref": "#/definitions/NewRepo"}
    assert "NewRepo" in doc["definitions"]

    # every operation carries Quay's operation id for the same method and path
    with QUAY_ENDPOINTS.open() as f:
        quay = {
            row["nickname"]: (row["method"], re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", row["path"]))
            for row in csv.DictReader(f, delimiter="\t")
        }
    ours = {
        op["operationId"]: (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert len(ours) == sum(len(item) for item in doc["paths"].values())  # ids are unique
    # Quay serves initializeUser outside its resources; Wharf's own operations are not Quay's.
    outside_quays_resources = {"initializeUser", *WHARF_ONLY}
    assert {op: (shape, quay.get(op)) for op, shape in ours.items() if op not in outside_quays_resources} == {
        op: (shape, shape) for op, shape in ours.items() if op not in outside_quays_resources
    }
    assert {"discovery", "getErrorDescription", "getRegistryCapabilities"} <= set(ours)

    # the OpenAPI 3.1 document stays at its own path
    r = await client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")


async def test_api_docs_page_loads_everything_from_wharf(client: httpx.AsyncClient) -> None:
    # /api/v1/docs works without Internet access: no CDN, every file it loads is served here
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded and all(url.startswith("/api/v1/docs/") for url in loaded), loaded
    for url in loaded:
        r = await client.get(url)
        assert r.status_code == 200 and r.content, url
    script = next(url for url in loaded if url.endswith(".js"))
    assert "SwaggerUIBundle" in (await client.get(script)).text
    assert "url: '/api/v1/openapi.json'" in page.text
    missing = await client.get("/api/v1/docs/nothing.js")
    assert missing.status_code == 404 and missing.json()["status"] == 404
