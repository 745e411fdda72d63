"""One module per package database or metadata format: bytes in, packages out, no I/O.

Next (issue 16): rpm (the SQLite rpmdb of RHEL/UBI 9 and Fedora, the BerkeleyDB `Packages` of
RHEL/UBI 8), Go binaries' embedded build info, Java archives' `pom.properties`.
"""
