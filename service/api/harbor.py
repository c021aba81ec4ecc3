"""Harbor Pluggable Scanner Adapter API v1.1 under ``/harbor/api/v1``.

Harbor registers Tollgate as a scanner, POSTs scan requests naming an artifact by
repository and digest, and polls for the report (302 + ``Refresh-After`` until done).
Reports: ``application/vnd.security.vulnerability.report; version=1.1`` and the
SBOM report ``application/vnd.security.sbom.report+json; version=1.0``.

The scan pulls from the registry with the ``authorization`` Harbor sends (Basic or
Bearer), for that host and that scan only: the credentials are never stored or logged
(see :mod:`service.registry.pull_auth`). Without one, the configured credentials are used.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from service.api.context import ServiceContext, get_context, require
from service.api.images import image_sbom
from service.auth.tokens import Scope
from service.errors import InvalidReferenceError
from service.jobs.dispatch import Queue
from service.registry.pull_auth import PullAuthorization
from service.sbom import SbomFormat
from service.store.scans import Scan, ScanStatus
from service.vulndb.model import Finding, Severity

router = APIRouter(
    prefix="/harbor/api/v1", tags=["harbor"], dependencies=[Depends(require(Scope.SCAN))]
)

Context = Annotated[ServiceContext, Depends(get_context)]

METADATA_TYPE = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_RESPONSE_TYPE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR_TYPE = "application/vnd.scanner.adapter.error+json; version=1.0"
VULN_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
VULN_REPORT_V10 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
CONSUMES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
SBOM_MEDIA_TYPES = {fmt.media_type: fmt for fmt in SbomFormat}
REFRESH_AFTER_S = 10
_SEVERITY = {s: s.value.capitalize() for s in Severity}


class _Registry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str
    authorization: str | None = None


class _Artifact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    repository: str
    digest: str
    tag: str | None = None
    mime_type: str | None = None


class HarborScanRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    registry: _Registry
    artifact: _Artifact


def _scanner(context: ServiceContext) -> dict[str, str]:
    engine = context.settings.engine
    return {
        "name": "Tollgate",
        "vendor": "Tollgate",
        "version": f"{engine} {context.submitter.engine_version(engine)}",
    }


def _artifact(scan: Scan) -> dict[str, Any]:
    repository = scan.reference.split("/", 1)[-1].split("@", 1)[0].rsplit(":", 1)[0]
    return {"repository": repository, "digest": scan.digest, "mime_type": CONSUMES[0]}


@router.get("/metadata")
def metadata(context: Context) -> Response:
    updated = context.vulns.status().last_update
    body = {
        "scanner": _scanner(context),
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": CONSUMES,
                "produces_mime_types": [VULN_REPORT, VULN_REPORT_V10],
            },
            {
                "type": "sbom",
                "consumes_mime_types": CONSUMES,
                "produces_mime_types": [SBOM_REPORT],
                "additional_attributes": {"sbom_media_types": list(SBOM_MEDIA_TYPES)},
            },
        ],
        "properties": {
            "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
            "harbor.scanner-adapter/vulnerability-database-updated-at": (
                updated.isoformat() if updated else ""
            ),
        },
    }
    return JSONResponse(body, media_type=METADATA_TYPE)


@router.post("/scan", status_code=202)
def accept_scan(request: HarborScanRequest, context: Context) -> Response:
    registry = request.registry
    host = urlsplit(registry.url).netloc or registry.url
    reference = f"{host}/{request.artifact.repository}@{request.artifact.digest}"
    pull_auth = (
        PullAuthorization.parse(registry.url, registry.authorization)
        if registry.authorization
        else None
    )
    scan, _ = context.submitter.submit(
        reference,
        platform=None,
        source="harbor-adapter",
        queue=Queue.ADMISSION.value,
        pull_auth=pull_auth,
        caller=f"harbor {host}",
    )
    return JSONResponse({"id": scan.id}, status_code=202, media_type=SCAN_RESPONSE_TYPE)


def _vulnerability(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": finding.id,
        "package": finding.package.name,
        "version": finding.package.version,
        "fix_version": ", ".join(finding.fixed_versions),
        "severity": _SEVERITY[finding.severity],
        "description": finding.summary,
        "links": [f"https://osv.dev/vulnerability/{finding.id}"],
        "vendor_attributes": _vendor_attributes(finding),
    }
    preferred = _preferred_cvss(finding)
    if preferred:
        item["preferred_cvss"] = preferred
    return item


def _vendor_attributes(finding: Finding) -> dict[str, Any]:
    """What Harbor shows as the scanner's own: the advisory source, the package's purl,
    who rated the severity, and the KEV and EPSS signals where the finding has them."""
    attributes: dict[str, Any] = {"source": finding.source, "purl": finding.package.purl}
    if finding.severity_source:
        attributes["severity_source"] = finding.severity_source
    if finding.kev is not None:
        attributes["kev"] = finding.kev.model_dump(mode="json")
    if finding.epss is not None:
        attributes["epss"] = finding.epss.model_dump(mode="json")
    return attributes


def _preferred_cvss(finding: Finding) -> dict[str, Any]:
    """Harbor's ``CVSSDetails``: v3.x score and vector (never a 4.0 or 2.0 one in the v3
    fields), and v2 score and vector, where the finding has them."""
    preferred: dict[str, Any] = {}
    v3 = _cvss_v3(finding)
    if v3 is not None:
        preferred.update(score_v3=v3[0], vector_v3=v3[1])
    if finding.cvss_v2_score is not None and finding.cvss_v2_vector:
        preferred.update(score_v2=finding.cvss_v2_score, vector_v2=finding.cvss_v2_vector)
    return preferred


def _cvss_v3(finding: Finding) -> tuple[float, str] | None:
    """The finding's CVSS v3.x score and vector."""
    if finding.cvss_v3_score is not None and finding.cvss_v3_vector:
        return finding.cvss_v3_score, finding.cvss_v3_vector
    vector = finding.cvss_vector or ""
    if finding.cvss_score is not None and vector.startswith("CVSS:3."):  # e.g. from Trivy
        return finding.cvss_score, vector
    return None


@router.get("/scan/{scan_id}/report")
def report(
    scan_id: str,
    context: Context,
    accept: Annotated[str, Header()] = VULN_REPORT,
    sbom_media_type: str | None = None,
) -> Response:
    scan = context.scans.get(scan_id)
    if scan.status is ScanStatus.FAILED:
        return JSONResponse(
            {"error": {"message": scan.error or "the scan failed"}},
            status_code=500,
            media_type=ERROR_TYPE,
        )
    if scan.status is not ScanStatus.DONE or scan.digest is None:
        return Response(status_code=302, headers={"Refresh-After": str(REFRESH_AFTER_S)})
    common = {
        "generated_at": (scan.finished_at or datetime.now(UTC)).isoformat(),
        "artifact": _artifact(scan),
        "scanner": _scanner(context),
    }
    if accept.startswith("application/vnd.security.sbom.report"):
        fmt = SBOM_MEDIA_TYPES.get(sbom_media_type or "")
        if fmt is None:
            raise InvalidReferenceError(
                f"sbom_media_type {sbom_media_type!r} is not supported",
                hint=f"ask for one of {', '.join(SBOM_MEDIA_TYPES)}",
            )
        sbom = json.loads(image_sbom(context, scan.digest, fmt))
        body = {**common, "media_type": fmt.media_type, "sbom": sbom}
        return JSONResponse(body, media_type=SBOM_REPORT)
    findings = [f for f in context.pipeline.assessment(scan.digest).findings if f.vex is None]
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.UNKNOWN)
    body = {
        **common,
        "severity": _SEVERITY[worst],
        "vulnerabilities": [_vulnerability(f) for f in findings],
    }
    media_type = (
        VULN_REPORT_V10
        if accept.startswith(VULN_REPORT_V10.split(";", maxsplit=1)[0])
        else VULN_REPORT
    )
    return JSONResponse(body, media_type=media_type)
