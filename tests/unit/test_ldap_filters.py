"""Search filters built from what a user typed (integrations/ldap_directory.py)."""

from __future__ import annotations

import pytest

from wharf.integrations.ldap_directory import DirectoryConfig, escape


@pytest.mark.parametrize(
    ("typed", "literal"),
    [
        ("jane", "jane"),
        ("*", "\\2a"),
        ("jane)(uid=*", "jane\\29\\28uid=\\2a"),
        ("a\\b", "a\\5cb"),
        ("nul\x00", "nul\\00"),
        ("émile", "émile"),  # UTF-8 is sent as is (RFC 4515 allows it)
    ],
)
def test_what_a_user_typed_is_a_literal_in_the_filter(typed: str, literal: str) -> None:
    assert escape(typed) == literal


def test_users_are_searched_below_their_rdn() -> None:
    c = DirectoryConfig("ldap://x", ("dc=example", "dc=org"), None, None, user_rdn=("ou=people",))
    assert c.search_base == "ou=people,dc=example,dc=org"
