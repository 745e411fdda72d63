"""The forward proxies of a mirror's form (Quay's `external_registry_config.proxy`), shared by a
repository's Mirroring section and an organization's Organization mirroring section: the form's
three fields into the configuration, and the sentence the read view shows. Core checks them
(core/mirrors.py `check_registry_config`) and the services pass the proxies' addresses through the
outbound guard, for the web as for /api/v1."""

from __future__ import annotations

from typing import Any

from wharf.core import proxy_passwords

FIELDS = ("http_proxy", "https_proxy", "no_proxy")


def registry_config(form: dict[str, str], current: dict[str, Any] | None) -> dict[str, Any]:
    """`external_registry_config` from the form: its TLS box and proxy fields, over what the
    stored one has besides (`unsigned_images`, set through the API, stays). Empty proxy fields
    remove the proxy (the process's environment applies again)."""
    config = {k: v for k, v in (current or {}).items() if k != "proxy"}
    config["verify_tls"] = form.get("verify_tls") == "on"
    proxy = {name: form.get(name, "").strip() for name in FIELDS}
    if any(proxy.values()):
        config["proxy"] = {name: value for name, value in proxy.items() if value}
    return config


def summary(config: dict[str, Any] | None) -> str | None:
    """How the mirror's requests reach the upstream, in a sentence; None without a proxy."""
    proxy = (config or {}).get("proxy")
    if not isinstance(proxy, dict):
        return None
    said = [
        f"{proxy_passwords.shown_proxy(str(proxy[name]))} for {scheme} upstreams"
        for scheme, name in (("https://", "https_proxy"), ("http://", "http_proxy"))
        if proxy.get(name)
    ]
    if not said:
        return None
    sentence = "Requests go through the proxy " + " and ".join(said)
    if proxy.get("no_proxy"):
        sentence += f", except to {proxy['no_proxy']} (reached directly)"
    return sentence + "."
