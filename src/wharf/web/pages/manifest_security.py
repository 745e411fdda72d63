"""/repository/<ns>/<name>/manifest/<digest>/security: a manifest's security report (issue 16):
its vulnerabilities, sortable and filterable by severity and "fixable only", each with the
package, installed and fixed versions, the layer that introduced it and a link; and a Packages
view of everything the index found. The report is the service's; this module only orders,
filters and labels it for the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import secscan as store
from wharf.core.events import SEVERITIES
from wharf.oci.manifest import ManifestError, ParsedManifest, parse_manifest
from wharf.services import manifest_details, secscan_views
from wharf.web import access, render
from wharf.web.pages import manifest  # noqa: F401  (registers the `digest` path convertor)
from wharf.web.session import visitor

VIEWS: Final = ("vulnerabilities", "packages")
SORTS: Final = ("severity", "vulnerability", "package", "fixed")


@dataclass(frozen=True, slots=True)
class Layer:
    number: int
    """1 for the bottom layer."""
    digest: str
    command: str | None
    """The build step that made it, from the image's history, when recorded."""


@dataclass(frozen=True, slots=True)
class VulnRow:
    severity: str
    osv_id: str
    aliases: tuple[str, ...]
    summary: str
    package: str
    version: str
    fixed_by: str
    layer: Layer | None
    link: str
    score: float | None


@dataclass(frozen=True, slots=True)
class PackageRow:
    name: str
    version: str
    kind: str
    namespace: str
    layer: Layer | None
    vulnerabilities: int
    worst: str | None


@dataclass(frozen=True, slots=True)
class Query:
    view: str = "vulnerabilities"
    severity: str = ""
    """The least severity shown ("" for all)."""
    fixable: bool = False
    sort: str = "severity"
    descending: bool = False

    def url(self, **changes: object) -> str:
        values = {
            "view": self.view,
            "severity": self.severity,
            "fixable": self.fixable,
            "sort": self.sort,
            "descending": self.descending,
        } | changes
        params = {}
        if values["view"] != "vulnerabilities":
            params["view"] = str(values["view"])
        if values["severity"]:
            params["severity"] = str(values["severity"])
        if values["fixable"]:
            params["fixable"] = "1"
        if values["sort"] != "severity":
            params["sort"] = str(values["sort"])
        if values["descending"]:
            params["order"] = "desc"
        return "?" + urlencode(params) if params else "?"

    def sorted_by(self, key: str) -> str:
        return self.url(sort=key, descending=not self.descending if key == self.sort else False)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def parse_query(params: dict[str, str]) -> Query:
    view = params.get("view", "")
    severity = params.get("severity", "")
    sort = params.get("sort", "")
    return Query(
        view=view if view in VIEWS else "vulnerabilities",
        severity=severity if severity in SEVERITIES else "",
        fixable=params.get("fixable", "") in ("1", "on", "true"),
        sort=sort if sort in SORTS else "severity",
        descending=params.get("order") == "desc",
    )


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


def vulnerability_rows(report: store.Report, layers: dict[str, Layer], q: Query) -> list[VulnRow]:
    """Every (package, vulnerability) of the report that the query's filters keep, in its order."""
    rows = []
    least = _rank(q.severity) if q.severity else len(SEVERITIES) - 1
    for sp in report.packages:
        p = sp.package
        for v in report.vulnerabilities.get(sp.id, []):
            if _rank(v.severity) > least or (q.fixable and not v.fixed_by):
                continue
            link = v.links[0] if v.links else f"https://osv.dev/vulnerability/{v.osv_id}"
            rows.append(
                VulnRow(
                    v.severity,
                    v.osv_id,
                    v.aliases,
                    v.summary or v.details[:200],
                    p.name,
                    p.version,
                    v.fixed_by,
                    layers.get(p.added_by),
                    link,
                    v.score,
                )
            )
    keys = {
        "severity": lambda r: (_rank(r.severity), -(r.score or 0.0), r.osv_id, r.package),
        "vulnerability": lambda r: (r.osv_id, r.package),
        "package": lambda r: (r.package, _rank(r.severity), r.osv_id),
        "fixed": lambda r: (r.fixed_by == "", r.package, _rank(r.severity)),
    }
    return sorted(rows, key=keys[q.sort], reverse=q.descending)


def package_rows(report: store.Report, layers: dict[str, Layer]) -> list[PackageRow]:
    rows = []
    for sp in report.packages:
        p = sp.package
        vulns = report.vulnerabilities.get(sp.id, [])
        worst = min((v.severity for v in vulns), key=_rank, default=None)
        kind = p.version_format
        rows.append(
            PackageRow(
                p.name, p.version, kind, p.namespace or p.ecosystem, layers.get(p.added_by), len(vulns), worst
            )
        )
    return sorted(rows, key=lambda r: (r.name, r.version))


async def _layers(request: Request, parsed: ParsedManifest | None) -> dict[str, Layer]:
    """The image's layers by digest, numbered from the bottom, with the step that made each."""
    if parsed is None or parsed.is_index:
        return {}
    rt = access.runtime(request)
    config = (await manifest_details.image_config_of(rt, parsed)).config
    commands = {}
    if config is not None:
        commands = {str(s.layer.digest): s.command for s in config.history if s.layer is not None}
    layers = parsed.blobs[1:] if parsed.config_media_type else parsed.blobs
    return {
        str(d.digest): Layer(i, str(d.digest), commands.get(str(d.digest))) for i, d in enumerate(layers, 1)
    }


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name, digest = request.path_params["repository"], request.path_params["digest"]
    view = await access.repository(request, v, full_name)
    found = await manifest_details.of(rt, view.repo, digest, v.identity.account_id)
    security = await secscan_views.manifest_security(rt, view.repo, digest)
    try:
        parsed: ParsedManifest | None = parse_manifest(found.record.content, found.record.media_type)
    except ManifestError:
        parsed = None
    q = parse_query(dict(request.query_params))
    report = security.report if security.status == store.SCANNED else None
    layers = await _layers(request, parsed) if report is not None else {}
    return render.page(
        request,
        "repository/security.html",
        page=access.repository_page(request, view),
        tab="tags",
        digest=digest,
        tags=found.tags,
        starred=found.starred,
        security=security,
        report=report,
        q=q,
        severities=SEVERITIES,
        vulnerabilities=vulnerability_rows(report, layers, q) if report is not None else [],
        packages=package_rows(report, layers) if report is not None else [],
        total_matches=sum(len(vs) for vs in report.vulnerabilities.values()) if report is not None else 0,
        is_index=parsed is not None and parsed.is_index,
        children=[str(c.digest) for c in parsed.children] if parsed is not None and parsed.is_index else [],
    )


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/manifest/{digest:digest}/security", show, methods=["GET"]),
]
