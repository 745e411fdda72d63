"""A form-filling client for the web UI: one cookie jar per visitor, forms read from the HTML."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from wharf.app import WharfApp


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag in ("input", "textarea", "select") and self.forms and a.get("name"):
            if a.get("type") in ("radio", "checkbox"):
                if "checked" not in a:
                    return
                # A browser sends "on" for a checked box without a value.
                self.forms[-1].fields.setdefault(a["name"], a.get("value") or "on")
                return
            self.forms[-1].fields.setdefault(a["name"], a.get("value", ""))


def forms_of(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


class Visitor:
    """One browser: its own cookies, talking to the app in-process."""

    def __init__(self, wharf: WharfApp) -> None:
        transport = httpx.ASGITransport(app=wharf, client=("10.9.8.7", 4444))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://registry.test")

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, path: str, **kw: object) -> httpx.Response:
        return await self.http.get(path, **kw)  # type: ignore[arg-type]

    async def form(self, page_path: str, action: str) -> Form:
        """The form posting to `action` on the page at `page_path`."""
        r = await self.http.get(page_path)
        assert r.status_code == 200, r.text
        found = [f for f in forms_of(r.text) if f.action == action and f.method == "post"]
        assert found, f"no form posting to {action} on {page_path}"
        return found[0]

    async def submit(self, page_path: str, action: str, **values: str) -> httpx.Response:
        form = await self.form(page_path, action)
        return await self.http.post(action, data={**form.fields, **values})

    async def sign_in(self, username: str, password: str) -> httpx.Response:
        r = await self.submit("/signin", "/signin", username=username, password=password)
        assert r.status_code == 303, r.text
        return r
