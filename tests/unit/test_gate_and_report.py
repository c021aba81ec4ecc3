"""The decision stage (bundle seeding, recorded decisions) and the scan report shapes."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policies.decision import Outcome
from policies.model import Bundle, ScanState
from policies.subject import EvaluationInput
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.cli.output import write_output
from service.errors import NotFoundError, PolicyConflictError
from service.gate import PolicyGate, shipped_bundle
from service.image.model import ImageConfig, PinnedImage, Platform
from service.image.reference import parse_reference
from service.pipeline import Verdict
from service.report import ScanReport, build_report, report_json, report_table
from service.scanning import ScanOutcome, Timings
from service.signing.model import SignatureStatus
from service.store.database import make_engine
from service.store.policies import PolicyStore
from service.vulndb.model import NotEvaluated, PackageRef
from tests.unit.jobs.fakes import fake_match

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _catalog() -> Catalog:
    return Catalog(
        image=ImageSubject(
            reference="r/app:1", digest="sha256:" + "b" * 64, platform="linux/amd64"
        ),
        packages=(
            Package(
                name="openssl",
                version="1.0",
                type=PackageType.DEB,
                purl="pkg:deb/debian/openssl@1.0",
            ),
        ),
        engine="fake",
        engine_version="1",
    )


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    return PolicyStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))


def test_shipped_bundles_load() -> None:
    assert shipped_bundle("default") is not None
    assert shipped_bundle("strict") is not None
    assert shipped_bundle("no-such-bundle") is None


def test_default_bundle_is_seeded_once_and_decisions_are_recorded(store: PolicyStore) -> None:
    gate = PolicyGate(store, clock=lambda: NOW)
    catalog = _catalog()
    subject = EvaluationInput(
        reference="r/app:1",
        registry="r",
        repository="app",
        tag="1",
        digest=catalog.image.digest,
        catalog=catalog,
        findings=tuple(fake_match(catalog)),
        scan=ScanState.SCANNED,
    )
    first = gate.decide(subject)
    second = gate.decide(subject)
    assert [v.version for v in store.versions()] == [1]
    assert first.outcome is Outcome.BLOCK  # a critical finding with a fix, no fix date known
    assert [d.outcome for d in store.decisions(catalog.image.digest)] == [
        first.outcome,
        second.outcome,
    ]


class _LosesTheSeedingRace(PolicyStore):
    """Another worker stores the shipped bundle between our lookup and our insert."""

    def apply(self, bundle: Bundle, *, author: str, now: datetime) -> Bundle:
        super().apply(bundle, author="the other worker", now=now)
        raise PolicyConflictError(f"policy {bundle.name!r} was applied concurrently")


def test_seeding_raced_by_another_worker_uses_its_bundle(tmp_path: Path) -> None:
    store = _LosesTheSeedingRace(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    bundle = PolicyGate(store, clock=lambda: NOW).bundle("default")
    assert bundle.name == "default" and bundle.version == 1
    assert [v.version for v in store.versions()] == [1]


def test_an_unknown_bundle_is_not_found(store: PolicyStore) -> None:
    with pytest.raises(NotFoundError):
        PolicyGate(store).bundle("no-such-bundle")


def _report(store: PolicyStore, *, not_evaluated: tuple[NotEvaluated, ...] = ()) -> ScanReport:
    """The report of a scan of :func:`_catalog` decided with the default bundle."""
    catalog = _catalog()
    findings = tuple(fake_match(catalog))
    subject = EvaluationInput(
        reference=catalog.image.reference,
        digest=catalog.image.digest,
        catalog=catalog,
        findings=findings,
    )
    decision = PolicyGate(store, clock=lambda: NOW).decide(subject, "default")
    image = PinnedImage(
        reference=parse_reference("registry.example/r/app:1"),
        display_name=catalog.image.reference,
        digest=catalog.image.digest,
        platform=Platform(os="linux", architecture="amd64"),
        media_type="application/vnd.oci.image.manifest.v1+json",
        layout=Path("/nonexistent"),
        config_digest="sha256:" + "c" * 64,
        layers=(),
        size=1,
        config=ImageConfig(),
    )
    outcome = ScanOutcome(catalog, list(findings), image, cached=False, timings=Timings(0.1))
    return build_report(outcome, Verdict(decision, findings, not_evaluated, SignatureStatus()))


def test_json_report_has_the_documented_fields(store: PolicyStore) -> None:
    gap = NotEvaluated(
        package=PackageRef(name="odd", version="1.0+evil", type="deb"),
        reason="version '1.0+evil' cannot be ordered by Debian rules",
    )
    report = json.loads(report_json(_report(store, not_evaluated=(gap,))))
    assert report["not_evaluated"] == [gap.model_dump(mode="json")]
    assert report["decision"]["outcome"] == "block" and report["timings"]["fetch"] == 0.1
    assert set(report["image"]) == {"reference", "digest", "platform"}
    assert report["packages"] == [
        {"name": "openssl", "version": "1.0", "type": "deb", "purl": "pkg:deb/debian/openssl@1.0"}
    ]
    finding = report["vulnerabilities"][0]
    for field in (
        "id",
        "aliases",
        "severity",
        "cvss_score",
        "package",
        "fixed_versions",
        "fix_available",
        "source",
    ):
        assert field in finding
    assert set(finding["package"]) >= {"name", "version", "type", "purl"}


def test_table_report_lists_findings_by_severity(store: PolicyStore) -> None:
    table = report_table(_report(store))
    lines = table.splitlines()
    assert "findings  1 critical, 1 high" in table
    row = {
        vuln: next(i for i, line in enumerate(lines) if vuln in line)
        for vuln in ("CVE-2024-0001", "CVE-2024-0002")
    }
    assert row["CVE-2024-0001"] < row["CVE-2024-0002"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_file_is_never_partial(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_output("{}", target)
    assert target.read_text() == "{}"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()

    with pytest.raises(TypeError):
        write_output(None, tmp_path / "other.json")  # type: ignore[arg-type]
    assert not (tmp_path / "other.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_output_to_a_device_or_a_pipe_is_written_into_it_not_renamed_over_it(
    tmp_path: Path,
) -> None:
    """``-o /dev/null`` (run as root, a rename would have put a regular file there) and a
    named pipe (read as it is written) keep what they are."""
    write_output("{}", Path("/dev/null"))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_output('{"a": 1}', fifo)
    reader.join(timeout=10)
    assert received == ['{"a": 1}'] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]
