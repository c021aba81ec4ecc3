"""Token terms: expiry, last use, revocation, lifetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.auth.tokens import (
    PRODUCTION_TOKEN_LIFETIME,
    Scope,
    TokenAuthority,
    default_lifetime,
    parse_lifetime,
)
from service.errors import AuthError, StoreUnavailableError
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from service.store.tokens import TokenStore

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Clocks:
    """The authority's monotonic clock (cache) and wall clock (expiry), moved together."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def authority(tmp_path: Path, clocks: Clocks) -> TokenAuthority:
    store = TokenStore(make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}"))
    return TokenAuthority(store, None, cache_ttl=5, clock=clocks.monotonic, now=clocks.wall)


def test_a_token_is_refused_once_it_expires_even_when_cached(authority, clocks) -> None:
    issued = authority.issue(frozenset({Scope.READ}), "ci", timedelta(seconds=3))
    assert authority.authenticate(issued.secret).name == "ci"
    clocks.elapsed = 3  # within the cache TTL (5 s), but past the token's end
    assert not authority.verified_recently(issued.secret)
    with pytest.raises(AuthError, match=f"API token {issued.id} \\(ci\\) expired"):
        authority.authenticate(issued.secret)


def test_the_last_use_is_recorded_and_listed(authority, clocks) -> None:
    issued = authority.issue(frozenset({Scope.SCAN}), "ci", timedelta(days=1))
    (listed,) = authority.tokens()
    assert listed.last_used_at is None and listed.expires_at == START + timedelta(days=1)
    clocks.elapsed = 60
    authority.authenticate(issued.secret)
    (listed,) = authority.tokens()
    assert listed.last_used_at == START + timedelta(seconds=60)
    assert listed.scopes == {"scan"} and not listed.revoked


def test_revocation_applies_at_once_in_this_process(authority) -> None:
    issued = authority.issue(frozenset({Scope.READ}), "ci")
    authority.authenticate(issued.secret)  # cached now
    assert authority.revoke(issued.id)
    with pytest.raises(AuthError, match="invalid or revoked"):
        authority.authenticate(issued.secret)
    assert authority.tokens()[0].revoked
    assert not authority.revoke(999)


def test_the_webhook_secret_still_authenticates(tmp_path: Path) -> None:
    store = TokenStore(make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}"))
    authority = TokenAuthority(store, Secret("s" * 32))
    assert authority.authenticate("s" * 32).allows(Scope.WEBHOOK)


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30))],
)
def test_lifetimes_are_read_with_their_unit(text: str, lifetime: timedelta) -> None:
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize("text", ["90", "d", "0d", "-1d", "1w", "1.5h"])
def test_a_malformed_lifetime_is_refused(text: str) -> None:
    with pytest.raises(AuthError, match="not a token lifetime"):
        parse_lifetime(text)


def test_tokens_expire_after_90_days_by_default_in_production_only() -> None:
    assert parse_lifetime("never") is None
    production = Settings(environment="production", webhook_secret=Secret("w" * 32))
    assert default_lifetime(production) == PRODUCTION_TOKEN_LIFETIME == timedelta(days=90)
    assert default_lifetime(Settings()) is None


class BusyStore(TokenStore):
    """Reads tokens, but cannot write (a database that is locked for writing)."""

    def touch(self, token_id: int, when: datetime) -> None:
        raise StoreUnavailableError("the token store is not reachable")


def test_a_last_use_that_cannot_be_recorded_does_not_refuse_the_caller(tmp_path: Path) -> None:
    authority = TokenAuthority(BusyStore(make_engine(f"sqlite:///{tmp_path / 't.db'}")), None)
    issued = authority.issue(frozenset({Scope.READ}), "ci")
    assert authority.authenticate(issued.secret).name == "ci"
