"""A SOCKS5 proxy on loopback (RFC 1928, CONNECT only, with RFC 1929's username and password when
`login` is set) for the mirrors' proxy tests. It runs as tests/http_proxy.py's proxy does, on a
loop of its own in a thread, and counts the tunnels it opened: `CONNECT host:port`, where host is
an address when the client resolved the name (`socks5://`) and the name when it left that to the
proxy (`socks5h://`)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass

from tests.http_proxy import HttpProxy, _pipe_both

_NO_LOGIN, _LOGIN, _REFUSED = 0x00, 0x02, 0xFF
_IPV4, _NAME, _IPV6 = 0x01, 0x03, 0x04


@dataclass
class SocksProxy(HttpProxy):
    """`with SocksProxy(login=("user", "password")) as proxy:` then `proxy.url` (socks5://) and
    `proxy.count("CONNECT ")`; a refused login counts as "refused login"."""

    @property
    def url(self) -> str:
        return f"socks5://{self.host}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await self._greeted(reader, writer):
                await self._connect(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def _greeted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        version, count = await reader.readexactly(2)
        if version != 5:
            return False
        methods = await reader.readexactly(count)
        wanted = _NO_LOGIN if self.login is None else _LOGIN
        writer.write(bytes([5, wanted if wanted in methods else _REFUSED]))
        await writer.drain()
        if wanted not in methods:
            return False
        if self.login is None:
            return True
        _version, size = await reader.readexactly(2)
        user = (await reader.readexactly(size)).decode()
        size = (await reader.readexactly(1))[0]
        password = (await reader.readexactly(size)).decode()
        accepted = (user, password) == self.login
        writer.write(bytes([1, 0 if accepted else 1]))
        await writer.drain()
        if not accepted:
            self._note("refused login")
        return accepted

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, command, _reserved, kind = await reader.readexactly(4)
        if kind == _IPV4:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == _IPV6:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        if command != 1:  # CONNECT only
            writer.write(bytes([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]))
            return
        self._note(f"CONNECT {host}:{port}")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))  # connection refused
            return
        writer.write(bytes([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]))
        await writer.drain()
        await _pipe_both(reader, writer, up_reader, up_writer)
