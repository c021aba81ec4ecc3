"""Secret: readable on purpose only, masked everywhere else, compared by value."""

from __future__ import annotations

from service.secret import Secret


def test_the_value_is_read_only_on_purpose():
    secret = Secret("hunter2")
    assert secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert str(secret) == "**********" and repr(secret) == "Secret('**********')"
    assert "hunter2" not in f"{[secret]} {secret!r} {secret}"


def test_equal_by_value_and_hashable():
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
