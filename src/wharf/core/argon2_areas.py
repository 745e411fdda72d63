"""argon2id verification in memory areas kept between verifications.

An argon2 verification at m=19 MiB fills 19 MiB. argon2-cffi has the C library allocate it with
malloc, which (with the fixed mmap threshold of wharf/memory.py) maps fresh pages each time: about
4,900 page faults per login, each a trip into the kernel that zeroes a page. On the 2-core machine
that was 30-40% of a cold login's CPU (verify alone, m=19 MiB t=2: 40 ms user + 18 ms system time
with fresh pages, 33 ms in reused ones). Here the C library is given an area of our own instead,
through argon2's allocation callbacks: one per concurrent verification, reused by the next one,
and unmapped by `release()` once verifications stop, so an idle process holds none.

argon2 wipes the area before handing it back (its `clear_internal_memory`), as it does with
malloc'd memory. Only well-formed `$argon2id$v=19$` hashes take this path; anything else is
verified by argon2-cffi as before (`verify` returns None).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import mmap
import re
import threading
from typing import Any

from _argon2_cffi_bindings import ffi, lib  # type: ignore[import-untyped]  # argon2-cffi's own

_ENCODED = re.compile(
    rb"\$argon2id\$v=19\$m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)

_local = threading.local()


def _b64(s: bytes) -> bytes:
    return base64.b64decode(s + b"=" * (-len(s) % 4), validate=True)


class Argon2Areas:
    """Memory areas for argon2id verifications: at most one per verification running at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._areas: dict[int, tuple[mmap.mmap, Any]] = {}
        self._free: list[int] = []

    @property
    def mapped(self) -> int:
        """Areas mapped now, in use or kept (for tests and metrics)."""
        return len(self._areas)

    def verify(self, encoded: str, password: str) -> bool | None:
        """Whether `password` matches the argon2id hash `encoded`; None if `encoded` is not a hash
        this path takes (then verify it with argon2-cffi)."""
        if _callbacks is None:
            return None
        m = _ENCODED.fullmatch(encoded.encode("ascii", "replace"))
        if m is None:
            return None
        m_cost, t_cost, lanes = (int(x) for x in m.group(1, 2, 3))
        try:
            salt, expected = _b64(m.group(4)), _b64(m.group(5))
        except (binascii.Error, ValueError):
            return None
        secret = password.encode("utf-8", "surrogatepass")
        out = ffi.new("uint8_t[]", len(expected))
        pwd = ffi.new("uint8_t[]", secret)
        salt_c = ffi.new("uint8_t[]", salt)
        ctx = ffi.new(
            "argon2_context *",
            {
                "out": out,
                "outlen": len(expected),
                "pwd": pwd,
                "pwdlen": len(secret),
                "salt": salt_c,
                "saltlen": len(salt),
                "secret": ffi.NULL,
                "secretlen": 0,
                "ad": ffi.NULL,
                "adlen": 0,
                "t_cost": t_cost,
                "m_cost": m_cost,
                "lanes": lanes,
                "threads": lanes,
                "version": lib.ARGON2_VERSION_NUMBER,
                "allocate_cbk": _callbacks[0],
                "free_cbk": _callbacks[1],
                "flags": lib.ARGON2_DEFAULT_FLAGS,
            },
        )
        # argon2 allocates and frees in the calling thread: the callbacks find us here.
        _local.areas = self
        try:
            rv = lib.argon2_ctx(ctx, lib.Argon2_id)
        finally:
            _local.areas = None
        if rv != lib.ARGON2_OK:
            return None  # argon2-cffi will say why (a parameter out of range, no memory...)
        return hmac.compare_digest(bytes(ffi.buffer(out, len(expected))), expected)

    def _take(self, size: int) -> Any:
        with self._lock:
            for i, address in enumerate(self._free):
                if len(self._areas[address][0]) == size:
                    del self._free[i]
                    return self._areas[address][1]
        area = mmap.mmap(-1, size)
        pointer = ffi.from_buffer("uint8_t[]", area)
        with self._lock:
            self._areas[int(ffi.cast("uintptr_t", pointer))] = (area, pointer)
        return pointer

    def _give_back(self, address: int) -> None:
        with self._lock:
            if address in self._areas:
                self._free.append(address)

    def release(self) -> int:
        """Unmap the areas no verification is using; how many."""
        with self._lock:
            free = [self._areas.pop(address) for address in self._free]
            self._free = []
        for area, pointer in free:
            ffi.release(pointer)
            area.close()
        return len(free)


def _allocate(memory: Any, size: int) -> int:
    memory[0] = _local.areas._take(size)
    return int(lib.ARGON2_OK)


def _free(memory: Any, _size: int) -> None:
    _local.areas._give_back(int(ffi.cast("uintptr_t", memory)))


def _make_callbacks() -> tuple[Any, Any] | None:
    try:
        return (
            # An exception in _allocate answers argon2 with an allocation error, never "OK".
            ffi.callback("int(uint8_t **, size_t)", _allocate, error=lib.ARGON2_MEMORY_ALLOCATION_ERROR),
            ffi.callback("void(uint8_t *, size_t)", _free),
        )
    except (MemoryError, RuntimeError):  # a system that forbids writable+executable memory
        return None


_callbacks = _make_callbacks()
