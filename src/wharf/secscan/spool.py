"""A file of a layer held whole for random access: rpm databases (SQLite pages, Berkeley DB hash
pages) and Java archives (a zip's directory is at its end) cannot be read as the forward-only
stream a layer is. Small ones are held in memory; a bigger one goes to a temporary file, which
is unnamed on disk for anyone else and deleted when the reader is done. The caller checks the
size against `Limits.spool_bytes` first: the file is never larger than its tar header says.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Final

_CHUNK: Final = 1 << 20


@contextmanager
def spooled(read: Callable[[int], bytes], size: int, memory_bytes: int) -> Iterator[IO[bytes]]:
    """The next `size` bytes of `read` as a seekable file: a BytesIO up to `memory_bytes`, a
    named temporary file (SQLite opens it by name) beyond."""
    if size <= memory_bytes:
        yield io.BytesIO(read(size))
        return
    with tempfile.NamedTemporaryFile(prefix="wharf-secscan-") as file:
        left = size
        while left > 0:
            chunk = read(min(left, _CHUNK))
            if not chunk:
                break
            file.write(chunk)
            left -= len(chunk)
        file.flush()
        file.seek(0)
        yield file
