"""Allowlist edits return a new bundle (the store applies it as the next version)."""

from __future__ import annotations

from datetime import date

import pytest

from policies.editing import (
    expire_allowlist_entries,
    policy_named,
    with_allowlist_entry,
    without_allowlist_entries,
)
from policies.loader import parse_bundle
from policies.model import AllowlistEntry
from service.errors import NotFoundError

BUNDLE = parse_bundle(
    """
name: team
default: strict
policies:
  - name: strict
    rules: [{id: critical, type: severity_gate, action: block, severity: critical}]
  - name: lenient
    rules: [{id: critical, type: severity_gate, action: warn, severity: critical}]
""",
    source="tests",
)


def entry(vulnerability: str, package: str | None = None) -> AllowlistEntry:
    return AllowlistEntry(vulnerability=vulnerability, package=package, reason="r", author="a")


def test_an_entry_goes_to_the_named_policy_or_the_default_one() -> None:
    added = with_allowlist_entry(BUNDLE, None, entry("CVE-1"))
    added = with_allowlist_entry(added, "lenient", entry("CVE-2"))
    assert policy_named(added, "strict").allowlist == (entry("CVE-1"),)
    assert policy_named(added, "lenient").allowlist == (entry("CVE-2"),)
    assert policy_named(BUNDLE, None).allowlist == ()  # the input is not changed
    with pytest.raises(NotFoundError, match="no policy 'other'"):
        with_allowlist_entry(BUNDLE, "other", entry("CVE-1"))


def test_removing_takes_the_entries_of_a_vulnerability_and_package() -> None:
    bundle = BUNDLE
    for item in (entry("CVE-1", "openssl"), entry("CVE-1", "zlib"), entry("CVE-2")):
        bundle = with_allowlist_entry(bundle, None, item)
    kept = without_allowlist_entries(bundle, None, "CVE-1", "zlib")
    assert policy_named(kept, None).allowlist == (entry("CVE-1", "openssl"), entry("CVE-2"))
    kept = without_allowlist_entries(bundle, "strict", "CVE-1", None)
    assert policy_named(kept, None).allowlist == (entry("CVE-2"),)
    with pytest.raises(NotFoundError, match="no allowlist entry for CVE-9"):
        without_allowlist_entries(bundle, None, "CVE-9", None)


def test_expiring_keeps_the_entries_with_an_expiry_date() -> None:
    bundle = with_allowlist_entry(BUNDLE, None, entry("CVE-1"))
    bundle = with_allowlist_entry(bundle, None, entry("CVE-2"))
    expired = expire_allowlist_entries(bundle, None, "CVE-1", None, on=date(2026, 1, 1))
    first, second = policy_named(expired, None).allowlist
    assert (first.vulnerability, first.expires) == ("CVE-1", date(2026, 1, 1))
    assert second.expires is None
    with pytest.raises(NotFoundError):
        expire_allowlist_entries(bundle, None, "CVE-1", "bash", on=date(2026, 1, 1))
