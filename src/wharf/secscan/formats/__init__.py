"""One module per package database or metadata format: bytes (or a file) in, packages out, no
other I/O."""
