"""Groups larger than the directory's size limit (Active Directory answers at most 1000 entries per
search): their members are read in pages (the simple paged results control, RFC 2696), against a
real OpenLDAP whose limit is two entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import ldap_server
from tests.ldap_server import PEOPLE, LdapServer
from wharf.config import load_settings
from wharf.integrations import ldap_directory
from wharf.integrations.ldap_directory import Directory

pytestmark = pytest.mark.skipif(not ldap_server.available(), reason="needs slapd and python-ldap")

NAMES = ["ann", "ben", "cid", "dot", "eve"]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    root: Path = tmp_path_factory.mktemp("paging") / "slapd"
    people: dict[str, tuple[str, str | None]] = {n: (f"{n}-pw", f"{n}@example.org") for n in NAMES}
    server = ldap_server.start_slapd(root, people, size_limit=2)
    for n in NAMES:
        server.set_member_of(n, [ldap_server.group_dn("big")])
    yield server
    server.stop()


def _directory(server: LdapServer, page_size: int) -> Directory:
    # The service account is an ordinary entry: the limits bind it (never the rootdn).
    keys = server.settings(
        LDAP_ADMIN_DN=f"uid=ann,{PEOPLE}", LDAP_ADMIN_PASSWD="ann-pw", LDAP_MEMBEROF_ATTR="seeAlso"
    )
    directory = Directory(ldap_directory.config_of(load_settings(None, keys, environ={})))
    directory.PAGE_SIZE = page_size
    return directory


def test_a_group_larger_than_the_size_limit_is_read_in_pages(directory: LdapServer) -> None:
    members = ldap_directory.groups_of(_directory(directory, 2)).members(ldap_server.group_dn("big"))
    assert [m.username for m in members] == NAMES
    assert ldap_directory.groups_of(_directory(directory, 2)).present([*NAMES, "zed"]) == set(NAMES)

    # pages larger than the directory allows are refused (slapd's size.pr): the limit is real
    with pytest.raises(ldap_directory.DirectoryUnavailable, match="limit exceeded"):
        ldap_directory.groups_of(_directory(directory, 1000)).members(ldap_server.group_dn("big"))
