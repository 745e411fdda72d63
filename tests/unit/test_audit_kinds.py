"""Every usage-log kind written anywhere in src/ is declared in core/audit_kinds.py, and every
declared kind is written somewhere; the web's sentences come from the table.

The kinds written are found in the source: the kind argument of each call to a writer (audit.record,
audit.record_for, the audit buffer's add), and of each call to a function that passes its own
`kind` parameter on to a writer (found the same way, until no new one appears). A kind given as a
variable must be a local `kind` assigned from string literals; anything else fails the test, so a
new way of writing entries has to be made visible here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from wharf.core import audit_kinds
from wharf.web.pages import logs as web_logs

SRC = Path(__file__).parents[2] / "src" / "wharf"

# (module or None for any, callee name) -> position of the kind among the positional arguments.
_SEEDS: dict[tuple[str | None, str], int] = {
    (None, "audit.record"): 1,
    (None, "audit.record_for"): 1,
    (None, "audit_buffer.add"): 0,
    ("core/audit.py", "record"): 1,
}


def _callee(call: ast.Call) -> str | None:
    """`name` for name(...), the last two parts for a.b.c(...)."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        owner = call.func.value
        last = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        return f"{last}.{call.func.attr}" if last else call.func.attr
    return None


def _kind_arg(call: ast.Call, module: str, writers: dict[tuple[str | None, str], int]) -> ast.expr | None:
    name = _callee(call)
    if name is None:
        return None
    position = writers.get((None, name), writers.get((module, name)))
    if position is None:
        return None
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == "kind"), None)


def _strings(node: ast.expr) -> set[str]:
    """The string literals `node` evaluates to: a literal, or either branch of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return set()


class _Function:
    """A function of src/ with what the scan reads of it, walked once: walking every function's
    tree on each round of the writer search cost most of the test's time."""

    def __init__(self, module: str, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.module, self.name = module, fn.name
        self.params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        nodes = list(ast.walk(fn))
        self.calls = [n for n in nodes if isinstance(n, ast.Call)]
        self.kind_assignments = [
            n
            for n in nodes
            if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "kind" for t in n.targets)
        ]


def _functions(module: str, tree: ast.AST) -> list[_Function]:
    return [
        _Function(module, n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _written() -> tuple[dict[str, list[str]], list[str]]:
    """(kind -> where it is written, call sites whose kind could not be told)."""
    functions = [
        fn
        for p in sorted(SRC.rglob("*.py"))
        for fn in _functions(str(p.relative_to(SRC)), ast.parse(p.read_text()))
    ]
    writers = dict(_SEEDS)
    while True:  # functions that pass their `kind` parameter on to a writer are writers too
        found: dict[tuple[str | None, str], int] = {}
        for fn in functions:
            if "kind" not in fn.params or (fn.module, fn.name) in writers:
                continue
            for call in fn.calls:
                arg = _kind_arg(call, fn.module, writers)
                if isinstance(arg, ast.Name) and arg.id == "kind":
                    offset = 1 if fn.params[0] in ("self", "cls") else 0
                    found[(fn.module, fn.name)] = fn.params.index("kind") - offset
        if not found:
            break
        writers.update(found)
    kinds: dict[str, list[str]] = {}
    unknown: list[str] = []
    for fn in functions:
        local = set().union(*(_strings(n.value) for n in fn.kind_assignments))
        is_writer = (fn.module, fn.name) in writers
        for call in fn.calls:
            arg = _kind_arg(call, fn.module, writers)
            if arg is None:
                continue
            where = f"{fn.module}:{call.lineno}"
            literal = _strings(arg)
            if isinstance(arg, ast.Name) and arg.id == "kind" and (local or is_writer):
                literal = local
            elif not literal:
                unknown.append(f"{where}: {ast.unparse(call)[:100]}")
            for kind in literal:
                kinds.setdefault(kind, []).append(where)
    return kinds, unknown


Scan = tuple[dict[str, list[str]], list[str]]


@pytest.fixture(scope="module")
def scan() -> Scan:
    """The source read once for the module's tests: parsing all of src/ takes seconds."""
    return _written()


def test_every_kind_written_is_declared_and_every_declared_kind_is_written(scan: Scan) -> None:
    kinds, unknown = scan
    assert not unknown, f"kinds the test cannot read; pass a literal or a local `kind`: {unknown}"
    undeclared = {k: w for k, w in kinds.items() if k not in audit_kinds.KINDS}
    assert not undeclared, f"declare these in core/audit_kinds.py: {undeclared}"
    unused = set(audit_kinds.KINDS) - set(kinds)
    assert not unused, f"declared but never written: {sorted(unused)}"


def test_the_scan_sees_the_kinds_written_through_wrappers(scan: Scan) -> None:
    kinds, _ = scan
    # a conditional local (core/tag_changes.py), a helper's parameter (core/notifications.py), a
    # helper's parameter into the audit buffer (registry/manifests.py), the audit buffer itself
    for kind in ("move_tag", "reset_namespace_notification", "pull_repo_failed", "pull_repo"):
        assert kind in kinds, kind


def test_the_web_shows_the_tables_sentences() -> None:
    m = {"namespace": "acme", "repo": "app", "tag": "v1", "manifest_digest": "sha256:" + "a" * 64}
    assert web_logs.describe("push_repo", "alice", m) == "alice pushed tag v1 of acme/app"
    by_digest = {**m, "tag": None}
    assert web_logs.describe("push_repo", None, by_digest) == (
        "An anonymous user pushed sha256:aaaaaaaaaaaa of acme/app"
    )
    assert web_logs.describe("create_robot", "alice", {"robot": "acme+ci"}) == "alice created robot acme+ci"
    assert web_logs.describe("change_tag_immutability", "bob", {"tag": "v1", "immutable": True}) == (
        "bob made tag v1 immutable"
    )
    assert web_logs.describe("create_token", "bob", {"scopes": ["repo:read", "user:read"]}) == (
        "bob created an OAuth access token for repo:read, user:read"
    )
    assert web_logs.describe("no_such_kind", "bob", {"x": 1}) == "no such kind: x=1"


def test_every_sentence_renders_without_details() -> None:
    """An entry missing a detail still reads as a sentence (the detail reads "None")."""
    for kind in audit_kinds.KINDS:
        text = audit_kinds.sentence(kind, "alice", {}, str)
        assert text and "{" not in text, kind


def test_the_apis_log_endpoints_list_every_kind() -> None:
    from fastapi.routing import APIRoute

    from wharf.api import logs as api_logs

    listing = {
        r.operation_id: r.description
        for r in api_logs.router.routes
        if isinstance(r, APIRoute)
        and r.operation_id in ("listRepoLogs", "listUserLogs", "listOrgLogs", "listAllLogs")
    }
    assert len(listing) == 4
    for description in listing.values():
        assert all(f"`{kind}`" in description for kind in audit_kinds.KINDS)
