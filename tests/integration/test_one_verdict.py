"""One image, one verdict: every entry point reaches the same decision through the pipeline.

A real image (Debian os-release, a dpkg package and lodash from npm, ``USER 1000``) is
pushed to a real registry that notifies the service, signed with a CI key the service
verifies (``TOLLGATE_VERIFY_KEYS``), and judged by the registry webhook's scan, an API
scan, ``tollgate scan``, ``POST /api/v1/policies/default/evaluate`` and an AdmissionReview
— before and after a feed update (``tollgate db update``), a VEX document, an allowlist
entry and a policy change. Each time all five report the same outcome and the same fired
rules, and the stored image records the new decision with what triggered it.

Expected outcomes follow from the policy, not from a list of advisories: the findings the
feed update brings are whatever Tollgate matched, and the VEX document and allowlist entry
name the ids it reported.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from policies.loader import parse_bundle
from service.api.app import create_app
from service.auth.tokens import Scope
from service.cli.signing import app as signing_cli
from service.secret import Secret
from service.settings import Settings, get_settings
from service.signing.keys import write_key_pair
from service.store.database import make_engine
from service.store.policies import PolicyStore
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    VENV_BIN,
    WEBHOOK_SECRET,
    api_token,
    finished_scan,
    notifying_registry,
    wait_for,
)
from tests.support.cli import run_tollgate
from tests.support.layers import File
from tests.support.oci import ImageSpec, push, write_image
from tests.support.shared import SHARED
from tests.unit.admission.reviews import pod_spec, review, workload

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "ci key password"
VULNDATA = SHARED / "vulndata" / "osv"
RULES = """
      - {id: scanned, type: scan_status, action: block}
      - {id: high, type: severity_gate, action: block, severity: high}
      - {id: non-root, type: root_user, action: block}
      - {id: signed, type: required_signature, action: block, keys: [ci]}
"""
BUNDLE = "name: default\ndefault: gate\npolicies:\n  - name: gate\n    rules:" + RULES
# The policy change: a warning on images without a HEALTHCHECK (the test image has none).
BUNDLE_WITH_HEALTHCHECK = BUNDLE + "      - {id: healthcheck, type: healthcheck, action: warn}\n"
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DPKG_STATUS = (
    b"Package: zlib1g\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
    b"Installed-Size: 100\nMaintainer: Debian <debian@example.org>\nArchitecture: amd64\n"
    b"Version: 1:1.2.13.dfsg-1\nDescription: compression library\n\n"
)
LODASH = json.dumps({"name": "lodash", "version": "4.17.11", "license": "MIT"}).encode()
RULE_IN_MESSAGE = re.compile(r"rule ([A-Za-z0-9_.-]+) \(")

Verdict = tuple[str, tuple[str, ...]]  # outcome, ids of the rules that fired


@dataclass
class World:
    client: httpx.Client  # admin token
    hook: dict[str, str]  # webhook token header
    registry_host: str
    layout: Path
    digest: str
    data_dir: Path
    cli_env: dict[str, str]
    ci_key: Path

    @property
    def tag(self) -> str:
        return f"{self.registry_host}/team/app:1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("one-verdict")
    ci = write_key_pair(root / "ci", PASSWORD.encode())
    settings = Settings(
        data_dir=root / "data",
        allowed_registries=LOOPBACK_REGISTRIES,
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
        docker_config=root / "no-docker-config.json",
        verify_keys={"ci": ci.public_key},
    )
    engine = make_engine(settings.sqlalchemy_url)
    PolicyStore(engine).apply(
        parse_bundle(BUNDLE, source="test"), author="test", now=datetime.now(UTC)
    )
    app = create_app(settings, engine=engine)
    admin = api_token(engine, "admin", Scope.ADMIN)
    hook = {"Authorization": f"Bearer {api_token(engine, 'hook', Scope.WEBHOOK)}"}
    with notifying_registry(app, root / "registry", admin) as (registry, client):
        layout = root / "layout"
        layer = {
            "etc/os-release": File(OS_RELEASE),
            "var/lib/dpkg/status": File(DPKG_STATUS),
            "usr/lib/node_modules/lodash/package.json": File(LODASH),
        }
        write_image(layout, ImageSpec(layers=[layer], user="1000"), tag="1")
        digest = push(layout, "1", registry.host, "team/app")
        # The push's own scan may run before the signature exists: let it finish first.
        finished_scan(client, _webhook_scan(client, digest)["id"])
        _sign(f"{registry.host}/team/app@{digest}", ci.private_key)
        cli_env = {
            "TOLLGATE_SYFT_PATH": str(VENV_BIN / "syft"),
            "TOLLGATE_DOCKER_CONFIG": str(root / "no-docker-config.json"),
            "TOLLGATE_VERIFY_KEYS": json.dumps({"ci": str(ci.public_key)}),
        }
        yield World(
            client, hook, registry.host, layout, digest, settings.data_dir, cli_env, ci.private_key
        )


def _sign(reference: str, key: Path, *extra: str, command: str = "sign") -> None:
    """``tollgate sign`` (or ``attest``) with the CI key."""
    previous = os.environ.get("COSIGN_PASSWORD")
    os.environ["COSIGN_PASSWORD"] = PASSWORD
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(signing_cli, [command, reference, "--key", str(key), *extra])
    finally:
        if previous is None:
            del os.environ["COSIGN_PASSWORD"]
        else:
            os.environ["COSIGN_PASSWORD"] = previous
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output


def _webhook_scan(client: httpx.Client, digest: str) -> dict[str, Any]:
    """The newest scan the registry's push notification queued for ``digest``."""

    def found() -> dict[str, Any] | None:
        scans = client.get("/api/v1/scans", params={"digest": digest, "limit": 50}).json()
        pushed = [s for s in scans["items"] if s["source"] == "distribution"]
        return pushed[0] if pushed else None

    return wait_for(found, 60, f"no webhook scan of {digest}")


def _fired(rule_results: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted(r["rule_id"] for r in rule_results if r["fired"]))


def _stored(world: World) -> dict[str, Any]:
    response = world.client.get(f"/api/v1/images/{world.digest}")
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


def _recorded(world: World) -> Verdict:
    decision = _stored(world)["decision"]
    return decision["outcome"], _fired(decision["rule_results"])


def via_webhook(world: World, previous_scan: str) -> tuple[Verdict, str]:
    """Push the image again; its notification's scan decides (a new scan once the
    vulnerability database changed, else the same one answers)."""
    push(world.layout, "1", world.registry_host, "team/app")
    scan = _webhook_scan(world.client, world.digest)
    assert finished_scan(world.client, scan["id"])["status"] == "done"
    return _recorded(world), scan["id"]


def via_api_scan(world: World) -> Verdict:
    answer = world.client.post("/api/v1/scans", json={"image": world.tag})
    assert answer.status_code == 202, answer.text
    assert finished_scan(world.client, answer.json()["id"])["status"] == "done"
    return _recorded(world)


def via_cli(world: World) -> Verdict:
    result = run_tollgate(["scan", world.tag, "-f", "json"], world.data_dir, world.cli_env)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    decision = report["decision"]
    assert result.returncode == (1 if decision["outcome"] == "block" else 0)
    return decision["outcome"], _fired(decision["rule_results"])


def via_evaluate(world: World) -> Verdict:
    answer = world.client.post("/api/v1/policies/default/evaluate", json={"image": world.tag})
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    return decision["outcome"], _fired(decision["rule_results"])


def via_admission(world: World) -> Verdict:
    body = review(workload("Pod", pod_spec(world.tag)))
    answer = world.client.post("/api/v1/admission", json=body, headers=world.hook)
    assert answer.status_code == 200, answer.text
    response = answer.json()["response"]
    warnings = response.get("warnings") or []
    if not response["allowed"]:
        message = response["status"]["message"]
        return "block", tuple(sorted(set(RULE_IN_MESSAGE.findall(message))))
    if warnings:
        return "warn", tuple(sorted({r for w in warnings for r in RULE_IN_MESSAGE.findall(w)}))
    return "pass", ()


def _all_entry_points(world: World, webhook_scan: str) -> tuple[dict[str, Verdict], str]:
    webhook, scan_id = via_webhook(world, webhook_scan)
    seen = {
        "webhook": webhook,
        "api": via_api_scan(world),
        "cli": via_cli(world),
        "evaluate": via_evaluate(world),
        "admission": via_admission(world),
    }
    return seen, scan_id


def _one_verdict(seen: dict[str, Verdict]) -> Verdict:
    assert len(set(seen.values())) == 1, seen
    return next(iter(seen.values()))


def _redecided(world: World, trigger: str) -> None:
    """Wait for the background re-decision of the stored image naming ``trigger``."""
    wait_for(
        lambda: (_stored(world)["decision"] or {}).get("trigger", "").startswith(trigger),
        60,
        f"the stored image was not decided again ({trigger})",
    )


def _blocking_ids(world: World) -> list[str]:
    """The vulnerabilities the high-severity gate counts, as the service reports them."""
    page = world.client.get(
        f"/api/v1/images/{world.digest}/vulnerabilities",
        params={"severity": "high", "limit": 500, "include_suppressed": "false"},
    ).json()
    return sorted({f["id"] for f in page["items"]})


def _db_update(world: World, *sources: str) -> str:
    args = ["db", "update"] + [arg for s in sources for arg in ("--source", s)]
    result = run_tollgate(args, world.data_dir, world.cli_env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_entry_point_reaches_the_same_verdict(world: World) -> None:
    first = _webhook_scan(world.client, world.digest)["id"]

    # 1. Data for another ecosystem only: lodash is listed as not evaluated, nothing fires.
    _db_update(world, f"PyPI={VULNDATA / 'PyPI'}")
    seen, webhook_scan = _all_entry_points(world, first)
    assert webhook_scan != first  # a new database revision: the push was scanned again
    assert _one_verdict(seen) == ("pass", ())
    gaps = world.client.get(f"/api/v1/images/{world.digest}").json()["not_evaluated"]
    assert any(g["package"]["name"] == "lodash" and "npm" in g["reason"] for g in gaps)

    # 2. The npm advisories arrive: the stored image is decided again by `db update`
    # (no registry involved) and every entry point now blocks on the severity gate.
    updated = _db_update(world, f"npm={VULNDATA / 'npm'}")
    assert "1 decided again" in updated, updated
    assert _recorded(world) == ("block", ("high",))
    assert _stored(world)["decision"]["trigger"].startswith("new advisories ")
    seen, webhook_scan = _all_entry_points(world, webhook_scan)
    assert _one_verdict(seen) == ("block", ("high",))
    blocking = _blocking_ids(world)
    assert len(blocking) >= 2, blocking

    # 3. A VEX document marks all but one of them not affected: still blocked, by one.
    kept, *suppressed = blocking
    statements = [
        {
            "vulnerability": {"name": vuln},
            "products": [{"@id": "pkg:npm/lodash"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }
        for vuln in suppressed
    ]
    document = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:vex:lodash"}
    answer = world.client.post(
        "/api/v1/vex",
        params={"name": "lodash-triage"},
        content=json.dumps({**document, "statements": statements}),
    )
    assert answer.status_code == 201, answer.text
    _redecided(world, "VEX document lodash-triage added")
    seen, webhook_scan = _all_entry_points(world, webhook_scan)
    assert _one_verdict(seen) == ("block", ("high",))
    assert _blocking_ids(world) == [kept]
    listed = world.client.get(f"/api/v1/images/{world.digest}/vulnerabilities").json()["items"]
    vexed = {f["id"] for f in listed if f["vex"] is not None}
    assert vexed >= set(suppressed)
    decision = _stored(world)["decision"]
    assert {s["vulnerability"] for s in decision["vex_suppressed"]} >= set(suppressed)

    # 4. An allowlist entry accepts the last one: every entry point passes.
    entry = {"vulnerability": kept, "reason": "triaged", "author": "security"}
    answer = world.client.post("/api/v1/policies/default/allowlist", json={"entry": entry})
    assert answer.status_code == 201, answer.text
    version = answer.json()["version"]
    _redecided(world, f"policy bundle default v{version}")
    seen, webhook_scan = _all_entry_points(world, webhook_scan)
    assert _one_verdict(seen) == ("pass", ())
    assert [a["vulnerability"] for a in _stored(world)["decision"]["allowlisted"]] == [kept]

    # 5. A policy change (a new bundle version keeping the allowlist) warns everywhere.
    bundle = parse_bundle(BUNDLE_WITH_HEALTHCHECK, source="test")
    current = world.client.get("/api/v1/policies/default").json()
    allowlist = current["policies"][0]["allowlist"]
    changed = bundle.model_dump(mode="json")
    changed["policies"][0]["allowlist"] = allowlist
    answer = world.client.put(
        "/api/v1/policies/default",
        content=json.dumps(changed),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    _redecided(world, f"policy bundle default v{answer.json()['version']}")
    seen, webhook_scan = _all_entry_points(world, webhook_scan)
    assert _one_verdict(seen) == ("warn", ("healthcheck",))


def test_the_image_scanned_by_the_cli_is_an_image_of_the_service(world: World) -> None:
    """`tollgate scan` records into the data directory the service reads: the image, its
    signature as verified and its decision are what the API lists."""
    via_cli(world)
    listed = world.client.get("/api/v1/images", params={"repository": "team/app"}).json()
    assert [i["digest"] for i in listed["items"]] == [world.digest]
    image = listed["items"][0]
    assert image["signatures"]["signed_by"] == ["ci"]


def test_signature_pushes_are_not_scanned(world: World) -> None:
    scans = world.client.get("/api/v1/scans", params={"limit": 200}).json()["items"]
    assert scans and all(".sig" not in s["image"] for s in scans)


def test_an_openvex_attestation_by_a_trusted_key_suppresses_findings(
    world: World, tmp_path: Path
) -> None:
    """``cosign attest --type openvex`` by the CI key: its statements apply to that image
    (and only it); an attestation by no trusted key would not count."""
    layout = tmp_path / "layout"
    layer = {
        "etc/os-release": File(OS_RELEASE),
        "usr/lib/node_modules/lodash/package.json": File(LODASH),
        "etc/vexed": File(b"an image of its own\n"),
    }
    write_image(layout, ImageSpec(layers=[layer], user="1000"), tag="1")
    digest = push(layout, "1", world.registry_host, "team/vexed")
    reference = f"{world.registry_host}/team/vexed@{digest}"
    tagged = f"{world.registry_host}/team/vexed:1"  # a tag is scanned afresh each time
    _sign(reference, world.ci_key)
    scan = world.client.post("/api/v1/scans", json={"image": tagged}).json()
    assert finished_scan(world.client, scan["id"])["status"] == "done"
    path = f"/api/v1/images/{digest}/vulnerabilities"
    before = world.client.get(path, params={"limit": 500}).json()["items"]
    ids = sorted({f["id"] for f in before})
    # (the earlier test's VEX document names lodash in every image: it may apply already)
    assert ids and not any(f["vex"] and f["vex"]["source"] == "urn:vex:attested" for f in before)

    predicate = tmp_path / "vex.json"
    statements = [
        {
            "vulnerability": {"name": vuln},
            "products": [{"@id": "pkg:npm/lodash"}],
            "status": "not_affected",
            "justification": "inline_mitigations_already_exist",
        }
        for vuln in ids
    ]
    predicate.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "urn:vex:attested",
                "statements": statements,
            }
        )
    )
    _sign(
        reference,
        world.ci_key,
        "--type",
        "openvex",
        "--predicate",
        str(predicate),
        command="attest",
    )
    rescan = world.client.post("/api/v1/scans", json={"image": tagged}).json()
    assert finished_scan(world.client, rescan["id"])["status"] == "done"
    after = world.client.get(path, params={"limit": 500}).json()["items"]
    assert {f["id"] for f in after if f["vex"] is not None} == set(ids)
    assert all(f["vex"]["source"] == "urn:vex:attested" for f in after)
    decision = world.client.get(f"/api/v1/images/{digest}").json()["decision"]
    assert decision["outcome"] != "block", decision
    # The main image holds the same lodash: the attestation on this one does not apply.
    main = world.client.get(f"/api/v1/images/{world.digest}/vulnerabilities").json()["items"]
    assert not any(f["vex"] and f["vex"]["source"] == "urn:vex:attested" for f in main)
