"""argon2id verification in kept memory areas answers exactly as argon2-cffi does."""

from __future__ import annotations

from argon2 import PasswordHasher, Type

from wharf.core import accounts
from wharf.core.argon2_areas import Argon2Areas

TODAY = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)


def test_it_agrees_with_argon2_cffi_and_reuses_its_area() -> None:
    areas = Argon2Areas()
    for password in ("pw", "", "ünïcødé \U0001f40b", "x" * 300):
        stored = TODAY.hash(password)
        assert areas.verify(stored, password) is True
        assert areas.verify(stored, password + "!") is False
        assert areas.verify(stored, password[:-1]) is (password == "")
    # one verification at a time: one area, kept for the next one, until released
    assert areas.mapped == 1
    assert areas.release() == 1
    assert areas.mapped == 0
    assert areas.verify(TODAY.hash("again"), "again") is True


def test_older_parameters_verify_too() -> None:
    areas = Argon2Areas()
    old = PasswordHasher(time_cost=3, memory_cost=2048, parallelism=4).hash("pw")
    assert areas.verify(old, "pw") is True
    assert areas.verify(old, "px") is False
    assert accounts.password_matches(old, "pw", areas)
    assert not accounts.password_matches(old, "px", areas)


def test_what_it_does_not_take_is_left_to_argon2_cffi() -> None:
    areas = Argon2Areas()
    argon2i = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1, type=Type.I).hash("pw")
    stored = TODAY.hash("pw")
    salt, digest = stored.rsplit("$", 2)[1:]
    for other in (
        argon2i,
        stored.replace("v=19", "v=16"),
        stored.replace("$argon2id$", "$argon2d$"),
        f"{stored.rsplit('$', 2)[0]}${salt}$",  # no digest
        f"{stored.rsplit('$', 2)[0]}${salt}$a",  # not base64
        stored.replace(",t=2,", ",t=0,"),  # argon2 refuses it
        "not a hash",
        "",
    ):
        assert areas.verify(other, "pw") is None, other
    assert accounts.password_matches(argon2i, "pw", areas)
    assert not accounts.password_matches("not a hash", "pw", areas)
    assert not accounts.password_matches(None, "pw", areas)
    assert areas.mapped <= 1
    assert digest
