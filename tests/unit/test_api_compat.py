"""Every /api/v1 operation Wharf documents has Quay's operation id, method and path, so that
Quay scripts and generated clients work unchanged. tests/data/quay-api-endpoints.tsv lists Quay's
@resource endpoints (class, method, path, nickname = operation id), read from Quay's source."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from wharf.api.app import shared_api

QUAY_ENDPOINTS = Path(__file__).resolve().parents[1] / "data" / "quay-api-endpoints.tsv"
# Quay serves these outside its @resource classes, so the table does not list them.
NOT_RESOURCES = {"initializeUser"}
# Wharf's own operations, beyond Quay's API (docs/api.md says which): none may take a Quay name.
WHARF_ONLY = {
    "getRepoManifestSbom": ("GET", "/api/v1/repository/{}/manifest/{}/sbom"),
    "getRepoSecuritySettings": ("GET", "/api/v1/repository/{}/securitysettings"),
    "updateRepoSecuritySettings": ("PUT", "/api/v1/repository/{}/securitysettings"),
    "getOrganizationSecuritySettings": ("GET", "/api/v1/organization/{}/securitysettings"),
    "updateOrganizationSecuritySettings": ("PUT", "/api/v1/organization/{}/securitysettings"),
    "createBuildTrigger": ("POST", "/api/v1/repository/{}/trigger/"),
}


def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_operations_match_quay(tmp_path: Path) -> None:
    with QUAY_ENDPOINTS.open() as f:
        quay = {
            row["nickname"]: (row["method"], _shape(row["path"])) for row in csv.DictReader(f, delimiter="\t")
        }
    doc = shared_api().openapi()
    ours = {
        op["operationId"]: (method.upper(), _shape(path))
        for path, operations in doc["paths"].items()
        for method, op in operations.items()
    }
    assert not set(WHARF_ONLY) & set(quay)
    assert {op: ours.get(op) for op in WHARF_ONLY} == WHARF_ONLY
    different = {
        op: (shape, quay.get(op))
        for op, shape in ours.items()
        if op not in NOT_RESOURCES and op not in WHARF_ONLY and quay.get(op) != shape
    }
    assert different == {}
