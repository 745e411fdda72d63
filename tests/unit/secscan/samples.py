"""Real-looking package databases and metadata for the indexer's tests."""

DEBIAN_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

DPKG_STATUS = """Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Pre-Depends: awk
Breaks: debian-security-support (<< 2019.04.25), initscripts (<< 2.88dsf-13.3)
Conffiles:
 /etc/debian_version 6a6b5ba1ef5bb5bd3a3c3a2b0d5d0bd7
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files.

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libblkid1
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 2.38.1-5+b1
Description: block device ID library

Package: vim-tiny
Status: deinstall ok config-files
Architecture: amd64
Source: vim
Version: 2:9.0.1378-2
Description: Vi IMproved - enhanced vi editor - compact version
"""

DPKG_OPENSSL = """
Package: libssl3
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries
"""

ALPINE_OS_RELEASE = """NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

APK_INSTALLED = """C:Q1VBA6wo7bC2pMoFeu6HZ/x5a4Ngw=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:655360
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1705321253
c:ca7f2ab5e88794e4e654b40776f8a92256f50639
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1rNLFuOd0KEa+n0Ly0tgL0IlUCQw=

C:Q1mxvDV7ZP7W1Y/KqDKZvDdXlkFhA=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1717291
I:4243456
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conner <ariadne@dereferenced.org>
D:so:libc.musl-x86_64.so.1
F:lib
R:libcrypto.so.3
"""

REQUESTS_METADATA = """Metadata-Version: 2.1
Name: requests
Version: 2.28.1
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Requires-Python: >=3.7, <4
License-File: LICENSE
Requires-Dist: charset-normalizer (<3,>=2)

# Requests

**Requests** is a simple, yet elegant, HTTP library. Version: 99 must not be read.
"""
