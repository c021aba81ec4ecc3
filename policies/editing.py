"""Changes to a bundle's allowlists: each returns a new bundle for the store to apply as
the next version (the API and the web console change allowlists only through these)."""

from __future__ import annotations

from datetime import date

from policies.model import AllowlistEntry, Bundle, Policy
from service.errors import NotFoundError


def policy_named(bundle: Bundle, name: str | None) -> Policy:
    """The policy ``name`` of ``bundle`` (its default policy when ``name`` is None)."""
    wanted = name or bundle.default
    for policy in bundle.policies:
        if policy.name == wanted:
            return policy
    raise NotFoundError(
        f"bundle {bundle.name!r} has no policy {wanted!r}",
        hint=f"use one of {', '.join(p.name for p in bundle.policies)}",
    )


def with_allowlist_entry(bundle: Bundle, policy: str | None, entry: AllowlistEntry) -> Bundle:
    target = policy_named(bundle, policy)
    return _replace(bundle, target, (*target.allowlist, entry))


def without_allowlist_entries(
    bundle: Bundle, policy: str | None, vulnerability: str, package: str | None
) -> Bundle:
    """``bundle`` without the entries for ``vulnerability`` (and ``package``, when given)."""
    target = policy_named(bundle, policy)
    kept = tuple(e for e in target.allowlist if not _names(e, vulnerability, package))
    _require_change(bundle, target, len(kept), vulnerability)
    return _replace(bundle, target, kept)


def expire_allowlist_entries(
    bundle: Bundle, policy: str | None, vulnerability: str, package: str | None, *, on: date
) -> Bundle:
    """``bundle`` with the entries for ``vulnerability`` (and ``package``) expiring ``on``
    (kept, so decisions report them as expired, unlike :func:`without_allowlist_entries`)."""
    target = policy_named(bundle, policy)
    entries = tuple(
        e.model_copy(update={"expires": on}) if _names(e, vulnerability, package) else e
        for e in target.allowlist
    )
    unchanged = sum(1 for e in target.allowlist if not _names(e, vulnerability, package))
    _require_change(bundle, target, unchanged, vulnerability)
    return _replace(bundle, target, entries)


def _names(entry: AllowlistEntry, vulnerability: str, package: str | None) -> bool:
    return entry.vulnerability == vulnerability and package in (None, entry.package)


def _require_change(bundle: Bundle, target: Policy, unchanged: int, vulnerability: str) -> None:
    if unchanged == len(target.allowlist):
        raise NotFoundError(
            f"policy {target.name!r} of {bundle.name!r} has no allowlist entry for {vulnerability}",
            hint=f"list them with GET /api/v1/policies/{bundle.name}/allowlist",
        )


def _replace(bundle: Bundle, target: Policy, allowlist: tuple[AllowlistEntry, ...]) -> Bundle:
    changed = target.model_copy(update={"allowlist": allowlist})
    policies = tuple(changed if p.name == target.name else p for p in bundle.policies)
    return bundle.model_copy(update={"policies": policies})
