"""A long-lived factory follows credentials renewed behind it (short-lived helper tokens).

The registry and its token service refuse a helper's old token; a refusal makes the client
look its credentials up again (a helper answer older than the TTL is asked for anew) and
retry once when they changed. Helpers are real programs on PATH; the clock of the helper
cache is a test clock, so nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.errors import RegistryAuthError
from service.registry.auth import AUTH_HINT
from service.registry.credentials import (
    HELPER_ANSWER_TTL_SECONDS,
    Credentials,
    CredentialStore,
    DockerCredentials,
)
from service.registry.factory import RegistryClientFactory
from service.settings import Settings
from tests.unit.registry.fakes import FakeRegistry, build_image
from tests.unit.registry.helper_programs import Helpers

HOST = "127.0.0.1:5000"
# like ECR's helper: a new token on every run
ROTATING = 'print(json.dumps({"Username": "AWS", "Secret": f"token-{calls}"}))\n'
SAME = 'print(json.dumps({"Username": "AWS", "Secret": "token-1"}))\n'
NOT_FOUND = 'print("credentials not found in native keychain")\nsys.exit(1)\n'
FAILS_AFTER_FIRST = f"if calls > 1:\n    sys.exit(3)\n{ROTATING}"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    image = build_image({"etc/hello": b"hi"})
    registry.push("team/app", image, tag="1.0")
    registry.push("team/other", image, tag="1.0")
    return registry


@dataclass
class Factories:
    """Long-lived factories over ``fake``, as ``serve`` and the workers keep them."""

    fake: FakeRegistry
    tmp_path: Path
    built: list[RegistryClientFactory]

    def with_store(self, store: CredentialStore) -> RegistryClientFactory:
        settings = Settings(registry_retries=0)
        factory = RegistryClientFactory(settings, store, transport=self.fake.transport())
        self.built.append(factory)
        return factory

    def with_helper(
        self, helper: str, clock: Clock, ttl: float = HELPER_ANSWER_TTL_SECONDS
    ) -> RegistryClientFactory:
        config = self.tmp_path / "config.json"
        config.write_text(json.dumps({"credHelpers": {HOST: helper}}))
        docker = DockerCredentials.read(config, helper_timeout=30.0, helper_ttl=ttl, clock=clock)
        return self.with_store(CredentialStore({}, docker))

    def with_token_service(self, helper: str, accepted: str) -> RegistryClientFactory:
        """The registry wants Bearer tokens; its token service takes only ``accepted``."""
        self.fake.token_auth = True
        self.fake.token_basic_auth = ("AWS", accepted)
        return self.with_helper(helper, Clock(), ttl=0)


@pytest.fixture
def factories(fake: FakeRegistry, tmp_path: Path) -> Iterator[Factories]:
    made = Factories(fake, tmp_path, [])
    yield made
    for factory in made.built:
        factory.close()


def test_long_lived_factory_pulls_with_a_renewed_helper_token_after_the_ttl(
    helpers: Helpers, factories: Factories, fake: FakeRegistry
) -> None:
    helpers.add("ecr", ROTATING)
    fake.basic_auth = ("AWS", "token-1")
    clock = Clock()
    factory = factories.with_helper("ecr", clock)
    assert factory(HOST).head_manifest("team/app", "1.0")
    fake.basic_auth = ("AWS", "token-2")  # token-1 expired
    clock.now += HELPER_ANSWER_TTL_SECONDS - 1
    with pytest.raises(RegistryAuthError, match=r"denied access \(401\)") as refused:
        factory(HOST).head_manifest("team/app", "1.0")
    assert refused.value.hint == AUTH_HINT
    assert len(helpers.calls("ecr")) == 1  # not asked again within the TTL

    clock.now += 1
    assert factory(HOST).head_manifest("team/app", "1.0")
    assert len(helpers.calls("ecr")) == 2
    fake.requests.clear()
    assert factory(HOST).get_manifest("team/app", "1.0")  # the new token stays in use
    assert len(fake.requests) == 1 and len(helpers.calls("ecr")) == 2


def test_token_service_refusing_the_old_token_gets_the_renewed_one(
    helpers: Helpers, factories: Factories, fake: FakeRegistry
) -> None:
    helpers.add("gcloud", ROTATING)
    factory = factories.with_token_service("gcloud", accepted="token-1")
    assert factory(HOST).head_manifest("team/app", "1.0")
    fake.token_basic_auth = ("AWS", "token-2")
    assert factory(HOST).head_manifest("team/other", "1.0")  # a scope without a token yet
    assert len(helpers.calls("gcloud")) == 2
    assert [r.url.params["scope"] for r in fake.token_requests] == [
        "repository:team/app:pull",
        "repository:team/other:pull",  # refused: token-1
        "repository:team/other:pull",
    ]


@pytest.mark.parametrize(
    ("body", "helper_runs", "requests"),
    [
        (SAME, 2, 2),  # built with it, asked once more; anonymous, Basic, no retry
        (NOT_FOUND, 1, 1),  # anonymous: nothing to ask again for
    ],
    ids=["unchanged-answer", "anonymous"],
)
def test_refused_without_new_credentials_is_an_auth_error(
    helpers: Helpers,
    factories: Factories,
    fake: FakeRegistry,
    body: str,
    helper_runs: int,
    requests: int,
) -> None:
    helpers.add("store", body)
    fake.basic_auth = ("AWS", "token-2")
    factory = factories.with_helper("store", Clock(), ttl=0)
    with pytest.raises(RegistryAuthError, match=r"denied access \(401\)"):
        factory(HOST).head_manifest("team/app", "1.0")
    assert len(helpers.calls("store")) == helper_runs and len(fake.requests) == requests


def test_a_token_service_refusing_unchanged_credentials_is_an_auth_error(
    helpers: Helpers, factories: Factories, fake: FakeRegistry
) -> None:
    helpers.add("store", SAME)
    factory = factories.with_token_service("store", accepted="token-2")
    with pytest.raises(RegistryAuthError, match=r"token service refused access \(401\)"):
        factory(HOST).head_manifest("team/app", "1.0")
    assert len(fake.token_requests) == 1


@pytest.mark.parametrize("source", ["env", "auths"])
def test_configured_credentials_refused_are_an_auth_error(
    factories: Factories, fake: FakeRegistry, source: str
) -> None:
    fake.basic_auth = ("ci", "new-password")
    old = Credentials("ci", "old-password")
    store = (
        CredentialStore({HOST: old})
        if source == "env"
        else CredentialStore({}, DockerCredentials({HOST: old}, {}))
    )
    factory = factories.with_store(store)
    for _ in range(2):  # each time: refused, nothing new to retry with
        with pytest.raises(RegistryAuthError, match=r"denied access \(401\)"):
            factory(HOST).head_manifest("team/app", "1.0")
    assert len(fake.requests) == 3  # anonymous, Basic; then Basic


def test_a_helper_failing_on_renewal_says_so(
    helpers: Helpers, factories: Factories, fake: FakeRegistry
) -> None:
    helpers.add("ecr", FAILS_AFTER_FIRST)
    fake.basic_auth = ("AWS", "token-1")
    factory = factories.with_helper("ecr", Clock(), ttl=0)
    assert factory(HOST).head_manifest("team/app", "1.0")
    fake.basic_auth = ("AWS", "token-2")
    with pytest.raises(RegistryAuthError, match="docker-credential-ecr failed") as failed:
        factory(HOST).head_manifest("team/app", "1.0")
    assert failed.value.hint is not None and "docker login" in failed.value.hint
