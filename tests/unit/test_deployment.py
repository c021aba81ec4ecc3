"""The Kubernetes manifests (deploy/kubernetes) are valid against the Kubernetes OpenAPI
schemas (offline, strict: no unknown field) and hold the deployment's promises: webhooks
fail closed and skip Tollgate's own namespace, containers run as the image's non-root
user with limits and a read-only root, run the image `make image` builds, the API serves
TLS with options `tollgate serve` has; the certificate script makes a serving certificate
the API server accepts."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509

from scripts.build_image import IMAGE
from service.cli.service import app as service_cli

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES = "1.30.0"
NAMESPACE = "tollgate-system"


def _documents() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(MANIFESTS.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def _pod_specs() -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in _documents() if d["kind"] == "Deployment"]


@pytest.mark.parametrize(
    "document", _documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_is_valid_for_kubernetes(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(files)


def test_the_webhooks_fail_closed_and_skip_system_namespaces() -> None:
    webhooks = [
        hook
        for d in _documents()
        if d["kind"].endswith("WebhookConfiguration")
        for hook in d["webhooks"]
    ]
    assert {h["clientConfig"]["service"]["path"] for h in webhooks} == {
        "/api/v1/admission",
        "/api/v1/admission/mutate",
    }
    for hook in webhooks:
        assert hook["failurePolicy"] == "Fail" and hook["timeoutSeconds"] <= 10
        (exclusion,) = hook["namespaceSelector"]["matchExpressions"]
        assert exclusion["operator"] == "NotIn"
        assert {"kube-system", NAMESPACE} <= set(exclusion["values"])


def test_containers_run_unprivileged_with_limits() -> None:
    dockerfile_user = next(
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("USER ")
    )
    for pod in _pod_specs():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert f"{security['runAsUser']}:{security['runAsGroup']}" == dockerfile_user
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_containers_run_the_image_make_image_builds() -> None:
    containers = [c for pod in _pod_specs() for c in pod["containers"]]
    assert containers
    assert {c["image"] for c in containers} == {IMAGE.removeprefix("localhost/")}


def test_the_api_serves_tls_with_options_the_cli_has() -> None:
    (api,) = [p for p in _pod_specs() if p["containers"][0]["name"] == "api"]
    args = api["containers"][0]["args"]
    assert args[0] == "serve" and "--tls-cert" in args and "--tls-key" in args
    usage = CliRunner().invoke(service_cli, ["serve", "--help"]).output
    for option in (a for a in args if a.startswith("--")):
        assert option.split("=")[0] in usage or option.startswith("--no-")


def test_the_certificate_script_makes_a_serving_certificate(tmp_path: Path) -> None:
    # A kubectl that prints the cluster steps and reads what is piped into it (a plain
    # `echo` would leave the writer of `create … | kubectl apply -f -` a broken pipe).
    kubectl = tmp_path / "kubectl"
    kubectl.write_text('#!/bin/sh\necho "$@"\ncat >/dev/null\n')
    kubectl.chmod(0o755)
    env = {
        **os.environ,
        "KUBECTL": str(kubectl),
        "DATABASE_URL": "postgresql+psycopg://tollgate@db/tollgate",
        "BROKER_URL": "redis://redis:6379/0",
    }
    result = subprocess.run(
        [str(ROOT / "scripts" / "kubernetes-certs"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    certificate = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"tollgate.{NAMESPACE}.svc" in names.get_values_for_type(x509.DNSName)
    ca = (tmp_path / "ca.crt").read_bytes()
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    assert base64.b64encode(ca).decode() in result.stdout  # the caBundle patched in
    assert oct((tmp_path / "tls.key").stat().st_mode & 0o777) == "0o600"
