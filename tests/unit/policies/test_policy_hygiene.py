"""Hygiene rules on image configs written as real OCI blobs and parsed back by the image layer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policies.engine import evaluate
from policies.rules.hygiene import BASE_NAME_LABEL
from policies.subject import EvaluationInput
from service.image.model import ImageConfig
from tests.support.oci import History
from tests.unit.policies.policy_helpers import NOW, ConfigBuilder, policy_of, subject


def _rule(rule_type: str, **fields: object) -> dict[str, object]:
    return {"id": rule_type, "type": rule_type, "action": "warn", **fields}


def _fired(rule: dict[str, object], image: EvaluationInput) -> bool:
    decision = evaluate(policy_of(rule), image, now=NOW)
    return decision.rule_results[0].fired


def _on(config: ImageConfig, **fields: object) -> EvaluationInput:
    return subject(config=config, **fields)


@pytest.mark.parametrize(
    ("user", "as_root"),
    [
        ("", True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:staff", True),
        ("app", False),
        ("1000:1000", False),
        ("nobody", False),
    ],
)
def test_root_user(build_config: ConfigBuilder, user: str, as_root: bool) -> None:
    assert _fired(_rule("root_user"), _on(build_config(user=user))) is as_root


@pytest.mark.parametrize(
    ("healthcheck", "missing"),
    [(None, True), (("NONE",), True), (("CMD", "curl", "-f", "http://localhost/"), False)],
)
def test_healthcheck(
    build_config: ConfigBuilder, healthcheck: tuple[str, ...] | None, missing: bool
) -> None:
    assert _fired(_rule("healthcheck"), _on(build_config(healthcheck=healthcheck))) is missing


@pytest.mark.parametrize(
    ("tag", "pinned", "forbid_latest_fires", "require_digest_fires"),
    [
        ("latest", False, True, True),
        (None, False, True, True),  # no tag means latest
        ("1.0", False, False, True),
        ("latest", True, False, False),  # app:latest@sha256:… is pinned
        (None, True, False, False),
    ],
)
def test_reference(
    tag: str | None, pinned: bool, forbid_latest_fires: bool, require_digest_fires: bool
) -> None:
    image = subject(tag=tag, pinned_by_digest=pinned)
    assert _fired(_rule("image_reference", require_digest=False), image) is forbid_latest_fires
    assert _fired(_rule("image_reference", forbid_latest=False), image) is require_digest_fires


def test_reference_message_suggests_the_pinned_form() -> None:
    image = subject(tag="latest")
    result = evaluate(policy_of(_rule("image_reference")), image, now=NOW).rule_results[0]
    assert f"127.0.0.1:5000/shop/web@{image.digest}" in result.message


def test_base_image_allowlist(build_config: ConfigBuilder) -> None:
    rule = _rule("base_image", allowed=["docker.io/library/debian:*", "gcr.io/distroless/*"])
    debian = build_config(labels={BASE_NAME_LABEL: "docker.io/library/debian:12-slim"})
    ubuntu = build_config(labels={BASE_NAME_LABEL: "docker.io/library/ubuntu:24.04"})
    unlabelled = build_config()
    assert not _fired(rule, _on(debian))
    assert _fired(rule, _on(ubuntu))
    result = evaluate(policy_of(rule), _on(unlabelled), now=NOW).rule_results[0]
    assert result.fired and BASE_NAME_LABEL in result.actual


def test_max_age(build_config: ConfigBuilder) -> None:
    created = NOW - timedelta(days=91)
    config = build_config(created=created.isoformat().replace("+00:00", "Z"))
    assert config.created is not None
    assert _fired(_rule("max_age", days=90), _on(config))
    assert not _fired(_rule("max_age", days=92), _on(config))


def test_max_age_is_skipped_without_a_creation_time() -> None:
    result = evaluate(policy_of(_rule("max_age", days=1)), subject(), now=NOW).rule_results[0]
    assert result.skipped and not result.fired


def test_max_size_accepts_units() -> None:
    rule = _rule("max_size", max_size="1MiB")
    assert _fired(rule, subject(size=1024 * 1024 + 1))
    assert not _fired(rule, subject(size=1024 * 1024))
    assert evaluate(policy_of(rule), subject(), now=NOW).rule_results[0].skipped


SECRET_VALUE = "hunter2-Sup3r-S3cret"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
PEM_HEADER = "-----BEGIN RSA PRIVATE KEY-----"


def test_secrets_in_env_and_history_are_found_without_echoing_them(
    build_config: ConfigBuilder,
) -> None:
    config = build_config(
        env=(
            "PATH=/usr/local/bin:/usr/bin",
            f"DB_PASSWORD={SECRET_VALUE}",
            "POSTGRES_PASSWORD_FILE=/run/secrets/db",  # a pointer, not a secret
            "API_TOKEN=",  # empty: nothing leaked
            f"UPLOAD_KEY={AWS_KEY}",
        ),
        history=(
            History(created_by="/bin/sh -c #(nop) ADD file:abc in / "),
            History(created_by=f"RUN /bin/sh -c echo '{PEM_HEADER}' > /root/key # buildkit"),
            History(
                created_by=f"/bin/sh -c export GITHUB_TOKEN={SECRET_VALUE} && make",
                empty_layer=True,
            ),
            History(created_by=f"RUN /bin/sh -c mysql --password={SECRET_VALUE} < seed.sql"),
            History(created_by='/bin/sh -c echo "$API_TOKEN" | login'),  # a reference, not a value
        ),
    )
    decision = evaluate(policy_of(_rule("secrets")), _on(config), now=NOW)
    result = decision.rule_results[0]
    assert result.fired
    assert "ENV: DB_PASSWORD has a literal value" in result.actual
    assert "ENV: AWS access key id" in result.actual
    assert "history step 2: private key" in result.actual
    assert "history step 3: GITHUB_TOKEN has a literal value" in result.actual
    assert "history step 4: secret passed as a command-line flag" in result.actual
    assert "POSTGRES_PASSWORD_FILE" not in result.actual
    assert "API_TOKEN" not in result.actual
    assert "history step 5" not in result.actual and "history step 1" not in result.actual
    stored = decision.model_dump_json()
    for secret in (SECRET_VALUE, AWS_KEY):
        assert secret not in stored


def test_clean_config_has_no_secrets(build_config: ConfigBuilder) -> None:
    assert not _fired(_rule("secrets"), _on(build_config()))
