"""Docker credential helpers (credsStore, credHelpers) run as real programs on PATH."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.errors import ConfigurationError, RegistryAuthError, TollgateError
from service.registry.credentials import Credentials, CredentialStore
from service.registry.factory import RegistryClientFactory
from service.secret import Secret
from service.settings import Settings
from tests.unit.registry.fakes import FakeRegistry, build_image
from tests.unit.registry.helper_programs import Helpers

SECRET = "hunter2-helper-secret"
HOST = "127.0.0.1:5000"

ANSWERS = f"""
print(json.dumps({{"ServerURL": server, "Username": "user@" + server, "Secret": {SECRET!r}}}))
"""
NOT_FOUND = """
print("credentials not found in native keychain")
sys.exit(1)
"""
FAILS = f"""
print("cannot unlock the store; the secret was {SECRET}")
sys.exit(3)
"""
HANGS = """
import time
time.sleep(120)
"""


def store(
    tmp_path: Path,
    docker: dict[str, object],
    env: dict[str, object] | None = None,
    timeout: float = 30.0,
) -> CredentialStore:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(docker))
    settings = Settings(
        docker_config=config,
        registry_auth=Secret(json.dumps(env)) if env else None,
        registry_timeout=timeout,
    )
    return CredentialStore.from_settings(settings)


def test_cred_helpers_pick_the_helper_per_host(helpers: Helpers, tmp_path: Path) -> None:
    helpers.add("ecr", ANSWERS)
    helpers.add("gcr", ANSWERS)
    creds = store(tmp_path, {"credHelpers": {HOST: "ecr", "https://gcr.example": "gcr"}})
    assert creds.lookup(HOST) == Credentials(f"user@{HOST}", SECRET)
    assert creds.lookup("gcr.example") == Credentials("user@gcr.example", SECRET)
    assert creds.lookup("ghcr.io") is None
    assert helpers.calls("ecr") == [[["get"], HOST]]
    assert helpers.calls("gcr") == [[["get"], "gcr.example"]]


def test_creds_store_applies_to_every_host_cred_helpers_win(
    helpers: Helpers, tmp_path: Path
) -> None:
    helpers.add("store", ANSWERS)
    helpers.add("ecr", ANSWERS.replace("user@", "ecr@"))
    creds = store(tmp_path, {"credsStore": "store", "credHelpers": {"ecr.example": "ecr"}})
    assert creds.lookup("ghcr.io") == Credentials("user@ghcr.io", SECRET)
    assert creds.lookup("ecr.example") == Credentials("ecr@ecr.example", SECRET)
    assert creds.lookup("docker.io") == Credentials("user@https://index.docker.io/v1/", SECRET)
    assert [server for _, server in helpers.calls("store")] == [
        "ghcr.io",
        "https://index.docker.io/v1/",
    ]


def test_a_helper_answer_is_final_auths_apply_only_without_one(
    helpers: Helpers, tmp_path: Path
) -> None:
    helpers.add("store", NOT_FOUND)
    plain = {"username": "bob", "password": "pw"}
    creds = store(
        tmp_path,
        {
            "credsStore": "store",
            "credHelpers": {"own.example": ""},  # as in Docker: empty means the auths entry
            "auths": {HOST: plain, "own.example": plain},
        },
    )
    assert creds.lookup(HOST) is None  # as in Docker: the helper's "not found" wins
    assert creds.lookup("own.example") == Credentials("bob", "pw")
    assert len(helpers.calls("store")) == 1


def test_registry_auth_env_wins_and_its_hosts_never_run_a_helper(
    helpers: Helpers, tmp_path: Path
) -> None:
    helpers.add("store", ANSWERS)
    env = {HOST: {"username": "env", "password": "from-env"}}
    creds = store(tmp_path, {"credsStore": "store"}, env=env)
    assert creds.lookup(HOST) == Credentials("env", "from-env")
    assert helpers.calls("store") == []


def test_not_found_means_no_credentials(helpers: Helpers, tmp_path: Path) -> None:
    helpers.add("pass", NOT_FOUND)
    assert store(tmp_path, {"credsStore": "pass"}).lookup(HOST) is None


def test_identity_token_is_kept_as_one(helpers: Helpers, tmp_path: Path) -> None:
    helpers.add("acr", 'print(json.dumps({"Username": "<token>", "Secret": "refresh-me"}))')
    creds = store(tmp_path, {"credHelpers": {HOST: "acr"}}).lookup(HOST)
    assert creds is not None and creds.identity_token and creds.password == "refresh-me"


def test_helper_runs_once_per_host_and_with_entry_shares_its_answers(
    helpers: Helpers, tmp_path: Path
) -> None:
    helpers.add("store", ANSWERS)
    creds = store(tmp_path, {"credsStore": "store"})
    assert creds.lookup(HOST) == creds.lookup(HOST) == creds.lookup(f"https://{HOST}/")
    request_store = creds.with_entry("harbor.example", Credentials("robot", "pw"))
    assert request_store.lookup("harbor.example") == Credentials("robot", "pw")
    assert request_store.lookup(HOST) == Credentials(f"user@{HOST}", SECRET)
    assert helpers.calls("store") == [[["get"], HOST]]


def test_nothing_runs_until_a_host_is_looked_up(helpers: Helpers, tmp_path: Path) -> None:
    helpers.add("store", ANSWERS)
    store(tmp_path, {"credsStore": "store", "credHelpers": {HOST: "store"}})
    assert helpers.calls("store") == []


def test_missing_helper_is_a_configuration_error(helpers: Helpers, tmp_path: Path) -> None:
    creds = store(tmp_path, {"credHelpers": {HOST: "tollgate-test-absent"}})
    with pytest.raises(ConfigurationError, match="docker-credential-tollgate-test-absent") as e:
        creds.lookup(HOST)
    assert "credHelpers" in str(e.value) and "not on PATH" in str(e.value)
    assert creds.lookup("other.example") is None  # only the host that needs it fails


def test_program_that_cannot_run_is_a_configuration_error(helpers: Helpers, tmp_path: Path) -> None:
    program = helpers.bin_dir / "docker-credential-broken"
    program.write_text(f"not a program {SECRET}\n")
    program.chmod(0o755)
    with pytest.raises(ConfigurationError, match="cannot run credential helper") as raised:
        store(tmp_path, {"credsStore": "broken"}).lookup(HOST)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (FAILS, re.escape(f"failed for {HOST} (exit status 3)")),
        (f"print('here you go: {SECRET}')", "not credentials"),
        (f"print(json.dumps({{'Username': 7, 'Secret': {SECRET!r}}}))", "not credentials"),
        (f"print(json.dumps([{SECRET!r}]))", "not credentials"),
        ("sys.stdout.buffer.write(b'\\xff\\xfe')", "not credentials"),
    ],
    ids=["exit-status", "not-json", "wrong-types", "not-an-object", "not-utf8"],
)
def test_failing_or_garbage_helper_is_an_auth_error_without_its_output(
    helpers: Helpers, tmp_path: Path, body: str, message: str
) -> None:
    helpers.add("store", body)
    creds = store(tmp_path, {"credsStore": "store"})
    with pytest.raises(RegistryAuthError, match=message) as raised:
        creds.lookup(HOST)
    assert SECRET not in str(raised.value) and "here you go" not in str(raised.value)
    assert "docker-credential-store" in str(raised.value)


def test_a_failed_run_is_not_remembered(helpers: Helpers, tmp_path: Path) -> None:
    helpers.add("store", FAILS)
    creds = store(tmp_path, {"credsStore": "store"})
    with pytest.raises(RegistryAuthError):
        creds.lookup(HOST)
    helpers.add("store", ANSWERS)
    assert creds.lookup(HOST) == Credentials(f"user@{HOST}", SECRET)


def test_hanging_helper_is_stopped_at_the_registry_timeout(
    helpers: Helpers, tmp_path: Path
) -> None:
    helpers.add("store", HANGS)
    creds = store(tmp_path, {"credsStore": "store"}, timeout=0.5)
    with pytest.raises(RegistryAuthError, match=re.escape(f"did not answer for {HOST}")):
        creds.lookup(HOST)


@pytest.mark.parametrize(
    "config",
    [
        {"credsStore": "../../bin/evil"},
        {"credsStore": 3},
        {"credHelpers": {HOST: ["pass"]}},
        {"credHelpers": ["pass"]},
    ],
)
def test_malformed_helper_settings_are_configuration_errors(
    tmp_path: Path, config: dict[str, object]
) -> None:
    with pytest.raises(ConfigurationError, match=r"Docker config|credHelpers|credsStore"):
        store(tmp_path, config)


def test_secret_never_logged(
    helpers: Helpers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    helpers.add("good", ANSWERS)
    helpers.add("bad", FAILS)
    creds = store(tmp_path, {"credsStore": "good", "credHelpers": {"bad.example": "bad"}})
    assert creds.lookup(HOST) is not None
    with pytest.raises(TollgateError):
        creds.lookup("bad.example")
    assert SECRET not in caplog.text
    assert SECRET not in repr(creds.lookup(HOST))


def test_factory_pulls_with_the_helpers_credentials(helpers: Helpers, tmp_path: Path) -> None:
    helpers.add("store", ANSWERS)
    fake = FakeRegistry(basic_auth=(f"user@{HOST}", SECRET))
    fake.push("team/app", build_image({"etc/hello": b"hi"}), tag="1.0")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "store"}))
    settings = Settings(docker_config=config, registry_retries=0)
    factory = RegistryClientFactory(
        settings, CredentialStore.from_settings(settings), transport=fake.transport()
    )
    try:
        assert factory(HOST).head_manifest("team/app", "1.0")
        assert factory(HOST).head_manifest("team/app", "1.0")
    finally:
        factory.close()
    assert len(helpers.calls("store")) == 1
