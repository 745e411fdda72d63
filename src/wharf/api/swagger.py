"""Swagger 2.0, as Quay's /api/v1/discovery serves it, made from the OpenAPI 3.1 document FastAPI
builds from the routes: one source, two documents (modern clients read /api/v1/openapi.json).

Swagger 2.0 schemas are an older, smaller JSON Schema: no `anyOf`/`oneOf`, no `null` type, one
`type` per schema, boolean `exclusiveMinimum`. `schema_v2` rewrites what pydantic emits into it.

`ui_page` and `ui_asset` are the interactive view at /api/v1/docs: Swagger UI from the files the
fastapi-offline package ships, served here, so that the page works without Internet access (the
view FastAPI builds in loads them from a CDN).
"""

from __future__ import annotations

import importlib.resources
from typing import Any

from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from wharf.core import scopes

DOCS_PATH = "/api/v1/docs"
_UI_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}

_REF_3 = "#/components/schemas/"
_REF_2 = "#/definitions/"
_SCHEMA_KEYS = frozenset(
    {
        "$ref",
        "format",
        "title",
        "description",
        "default",
        "multipleOf",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "enum",
        "type",
        "items",
        "allOf",
        "properties",
        "additionalProperties",
        "readOnly",
        "example",
    }
)
# Keys of a Swagger 2.0 non-body parameter besides name, in, description and required.
_PARAMETER_KEYS = frozenset(
    {
        "type",
        "format",
        "items",
        "default",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "enum",
        "multipleOf",
    }
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
API_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "Every /api/v1 error (RFC 7807 problem details, with Quay's aliases).",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status code."},
        "type": {"type": "string", "description": "Link to the description of the error type."},
        "title": {"type": "string", "description": "The error type."},
        "detail": {"type": "string", "description": "What went wrong this time."},
        "error_message": {"type": "string", "description": "Same as detail."},
        "error_type": {"type": "string", "description": "Same as title."},
    },
    "required": ["status", "type", "title"],
}
_ERROR_RESPONSES = {
    "400": "Bad request",
    "401": "Session required",
    "403": "Unauthorized access",
    "404": "Not found",
}


def _ref(ref: str) -> str:
    return _REF_2 + ref.removeprefix(_REF_3) if ref.startswith(_REF_3) else ref


# One branch per JSON Schema keyword that Swagger 2.0 spells differently: a table would hide the order.
def schema_v2(schema: Any) -> dict[str, Any]:  # noqa: C901, PLR0912
    """A JSON Schema as pydantic writes it for OpenAPI 3.1, as a Swagger 2.0 schema object."""
    if not isinstance(schema, dict):
        return {}
    if "$ref" in schema:
        return {"$ref": _ref(schema["$ref"])}
    out: dict[str, Any] = {}
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        concrete = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(concrete) == 1:
            out.update(schema_v2(concrete[0]))
        if len(concrete) < len(variants):
            out["x-nullable"] = True
    if "const" in schema:
        out["enum"] = [schema["const"]]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        out["example"] = schema["examples"][0]
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS or key in ("$ref",):
            continue
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) != 1:
                continue
            if len(types) < len(value):
                out["x-nullable"] = True
            value = types[0]
        elif key == "type" and value == "null":
            continue
        elif key == "items":
            value = schema_v2(value)
        elif key == "allOf":
            value = [schema_v2(v) for v in value]
        elif key == "properties":
            value = {name: schema_v2(s) for name, s in value.items()}
        elif key == "additionalProperties" and isinstance(value, dict):
            value = schema_v2(value)
        out[key] = value
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), int | float) and not isinstance(schema.get(bound), bool):
            out[flag] = schema[bound]
            out[bound] = True
    if out.get("default") is None:
        out.pop("default", None)
    return out


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    schema = schema_v2(param.get("schema", {}))
    out: dict[str, Any] = {
        "name": param["name"],
        "in": param["in"],
        "required": bool(param.get("required")) or param["in"] == "path",
        "description": param.get("description") or schema.get("description") or schema.get("title") or "",
    }
    out.update({k: v for k, v in schema.items() if k in _PARAMETER_KEYS})
    out.setdefault("type", "string")
    if out["type"] in ("object",):
        out["type"] = "string"
    if out["type"] == "array" and "items" not in out:
        out["items"] = {"type": "string"}
    return out


def _operation(op: dict[str, Any], method: str) -> dict[str, Any]:
    parameters = [_parameter(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if body:
        content = body.get("content", {})
        media: dict[str, Any] = content.get("application/json") or next(iter(content.values()), {})
        parameters.append(
            {
                "name": "body",
                "in": "body",
                "required": bool(body.get("required")),
                "description": "Request body contents.",
                "schema": schema_v2(media.get("schema", {})),
            }
        )
    responses: dict[str, Any] = {
        code: {"description": text, "schema": {"$ref": _REF_2 + "ApiError"}}
        for code, text in _ERROR_RESPONSES.items()
    }
    for code, answer in op.get("responses", {}).items():
        if not code.startswith("2"):
            continue  # FastAPI's 422: Wharf answers bad input 400 with an ApiError
        out: dict[str, Any] = {"description": answer.get("description") or "Successful invocation"}
        schema = (answer.get("content", {}).get("application/json") or {}).get("schema")
        if schema:
            out["schema"] = schema_v2(schema)
        responses[code] = out
    converted: dict[str, Any] = {
        "operationId": op["operationId"],
        "summary": op.get("summary", ""),
        "description": op.get("description", ""),
        "tags": op.get("tags", []),
        "parameters": parameters,
        "responses": responses,
    }
    if body:
        converted["consumes"] = ["application/json"]
    return converted


def paths_and_definitions(openapi: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """The host-independent part of the Swagger 2.0 document: paths, definitions and tags."""
    paths: dict[str, Any] = {}
    tags: set[str] = set()
    for path, item in openapi.get("paths", {}).items():
        converted = {m: _operation(op, m) for m, op in item.items() if m in _METHODS and "operationId" in op}
        if converted:
            paths[path] = converted
            for op in converted.values():
                tags.update(op["tags"])
    schemas = openapi.get("components", {}).get("schemas", {})
    definitions = {name: schema_v2(s) for name, s in schemas.items() if name != "HTTPValidationError"}
    definitions.pop("ValidationError", None)
    definitions["ApiError"] = API_ERROR
    return paths, definitions, [{"name": t, "description": ""} for t in sorted(tags)]


def document(
    openapi: dict[str, Any], parts: tuple[dict[str, Any], dict[str, Any], list[Any]], host: str, scheme: str
) -> dict[str, Any]:
    paths, definitions, tags = parts
    info = openapi.get("info", {})
    return {
        "swagger": "2.0",
        "host": host,
        "basePath": "/",
        "schemes": [scheme],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "info": {
            "version": "v1",
            "title": info.get("title", "Wharf API"),
            "description": info.get("description", ""),
        },
        "securityDefinitions": {
            "oauth2_implicit": {
                "type": "oauth2",
                "flow": "implicit",
                "authorizationUrl": f"{scheme}://{host}/oauth/authorize",
                "scopes": {s: d.detail for s, d in scopes.DESCRIPTIONS.items()},
            }
        },
        "security": [{"oauth2_implicit": []}],
        "paths": paths,
        "definitions": definitions,
        "tags": tags,
    }


def ui_page(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI for the OpenAPI document at `openapi_url`, with its scripts from this server."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{DOCS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_PATH}/favicon.png",
    )


def ui_asset(name: str) -> Response | None:
    """One of Swagger UI's files, or None for a name that is not one of them."""
    media_type = _UI_ASSETS.get(name)
    if media_type is None:
        return None
    # found when asked: importing the package at start would cost every process for a rare page
    files = importlib.resources.files("fastapi_offline") / "static"
    return Response(
        (files / name).read_bytes(),
        media_type=media_type,
        # the files change only with the package: a day's caching spares reloading 1.5 MB
        headers={"cache-control": "public, max-age=86400"},
    )
