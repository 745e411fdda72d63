"""ASGI extensions Wharf's server offers its application (see serving.py); a module of its own
so that the application need not import the server to use them."""

SENDFILE = "wharf.http.response.sendfile"
"""A private ASGI extension, in `scope["extensions"]` on plain TCP connections. After an
`http.response.start` that declares a Content-Length, the application may send the whole body as
`{"type": SENDFILE, "file": fd, "offset": int, "count": int}`: `count` bytes of the open file
`fd` from `offset`, which go from the page cache to the socket with sendfile(2), never through
Python. It is the standard `http.response.pathsend` with a range and a file already open (a blob
deleted after its check cannot turn into an error after the headers). The send returns once the
bytes are in the socket, or the client is gone; the application keeps the file and closes it."""
