"""The one place where a scan becomes a verdict.

acquire → catalog → match (:class:`service.scanning.Orchestrator`) → apply VEX →
verify signatures and attestations → decide (allowlists are part of the policy) →
sign and attest when configured → record → notify.

Every entry point reaches its verdict here: ``tollgate scan``, the API's scans, registry
and Harbor webhooks (through the scan jobs), admission and policy evaluation (from what is
stored), and every re-decision after a feed update, a policy, allowlist or VEX change.
Re-decisions run the tail of the same path (VEX → decide → record) on stored catalogs,
with the facts recorded at scan time (config, size, verified signatures), so an image
gets the same verdict whichever way it is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from policies.decision import Decision, Outcome
from policies.model import Bundle, ScanState
from policies.rules.exploitation import signals_matter
from policies.subject import EvaluationInput
from service.catalog.model import Catalog
from service.errors import NotFoundError, TollgateError, VulnDBError
from service.gate import PolicyGate
from service.image.model import ImageReference, PinnedImage, Platform
from service.image.reference import format_reference, parse_reference
from service.layers.model import LayerAnalysis
from service.notify.webhooks import (
    POLICY_FAILED,
    SCAN_COMPLETED,
    SCAN_FAILED,
    VULNERABILITY_NEW,
    Notifier,
)
from service.scanning import Orchestrator, Progress, ScanOutcome
from service.signing.checker import SignatureChecker, combined
from service.signing.model import SignatureStatus
from service.store.images import ImageStore, ImageSubjectInfo, ImageSummary
from service.vulndb.coverage import not_evaluated
from service.vulndb.model import Finding, NotEvaluated
from service.vulndb.vex import ImageScope, VexStatement, apply_vex, parse_vex

if TYPE_CHECKING:  # a scan loads neither the signer, the feeds nor re-matching
    from service.registry.pull_auth import PullAuthorization
    from service.rematch import ReevaluationResult
    from service.signing.service_signer import ServiceSigner
    from service.store.advisories import ImportResult, VulnStore
    from service.store.catalogs import CatalogStore, FindingDiff
    from service.store.vex import VexStore
    from service.vulndb.feeds.base import AnyFeed

logger = logging.getLogger(__name__)

# The orchestrator for one scan, pulling with a request's credentials when it carried any.
OrchestratorFactory = Callable[["PullAuthorization | None"], AbstractContextManager[Orchestrator]]

SCAN_TRIGGER = "scan"
_PARSED_VEX_LIMIT = 4096  # documents whose statements stay parsed in memory


@dataclass(frozen=True)
class Verdict:
    """A decision and what it was made from: the findings as the rules saw them (VEX
    applied: suppressed ones carry ``vex``), the packages nothing could audit and the
    signatures that verified."""

    decision: Decision
    findings: tuple[Finding, ...]
    not_evaluated: tuple[NotEvaluated, ...]
    signatures: SignatureStatus


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]  # VEX applied
    not_evaluated: tuple[NotEvaluated, ...]


@dataclass(frozen=True)
class ScanResult:
    outcome: ScanOutcome
    verdict: Verdict


@dataclass(frozen=True)
class UpdateResult:
    imports: tuple[ImportResult, ...]
    reevaluation: ReevaluationResult | None  # None: no advisory changed
    redecided: int


class Pipeline:
    """Receives every collaborator (built by :mod:`service.wiring`) and builds none."""

    def __init__(
        self,
        *,
        orchestrators: OrchestratorFactory,
        gate: PolicyGate,
        bundle: str,
        checker: SignatureChecker,
        signer: ServiceSigner | None,
        images: ImageStore,
        catalogs: CatalogStore,
        vulns: VulnStore,
        vex: VexStore,
        notifier: Notifier,
    ) -> None:
        self._orchestrators = orchestrators
        self._gate = gate
        self.bundle = bundle
        self._checker = checker
        self._signer = signer
        self._images = images
        self._catalogs = catalogs
        self._vulns = vulns
        self._vex = vex
        self._parsed_vex: dict[str, tuple[VexStatement, ...]] = {}
        self._notifier = notifier

    # --- a scan ---------------------------------------------------------------------

    def scan(
        self,
        ref: ImageReference,
        *,
        platform: Platform | None = None,
        engine: str | None = None,
        bundle: str | None = None,
        vex: Sequence[VexStatement] = (),
        pull_auth: PullAuthorization | None = None,
        progress: Progress | None = None,
        scan_id: str | None = None,
    ) -> ScanResult:
        """Scan ``ref`` and decide; the image, its findings and decision are recorded.

        ``vex``: statements of this scan only (``tollgate scan --vex``), applied after the
        stored documents. Transient errors propagate for the caller to retry.
        """
        with self._orchestrators(pull_auth) as orchestrator:
            outcome = orchestrator.scan(ref, platform=platform, engine=engine, progress=progress)
        revision = self._vulns.revision()
        image = outcome.image
        signatures = self._checker.verified(image)
        # OpenVEX attested by a trusted signer applies to this image from now on.
        self._vex.attest(image.digest, signatures.vex, author="attestation")
        signatures = signatures.model_copy(update={"vex": ()})
        subject = EvaluationInput.from_pinned(
            image,
            scan=ScanState.SCANNED,
            catalog=outcome.catalog,
            findings=tuple(outcome.findings),
            signatures=signatures,
            layers=outcome.layers,
        )
        verdict = self._judge(subject, bundle, SCAN_TRIGGER, extra_vex=vex)
        if self._signs(verdict, image):
            assert self._signer is not None
            signed = self._signer.sign(image, outcome.catalog, verdict.findings, revision)
            verdict = replace(verdict, signatures=combined(verdict.signatures, signed))
        self._images.record(
            _subject_info(image, len(outcome.catalog.packages), outcome.layers),
            verdict.findings,
            scan_id=scan_id,
            policy_outcome=verdict.decision.outcome.value,
            signatures=verdict.signatures,
        )
        self._announce_scan(scan_id, image.display_name, image.digest, verdict)
        return ScanResult(outcome, verdict)

    def _signs(self, verdict: Verdict, image: PinnedImage) -> bool:
        return (
            verdict.decision.outcome is Outcome.PASS
            and self._signer is not None
            and self._signer.applies(image)
        )

    def scan_failed(
        self, scan_id: str, reference: str, digest: str | None, platform: str | None, reason: str
    ) -> None:
        """Announce a failed scan and, when its digest is known and no scan of it ever
        succeeded, decide on it as failed (policies usually block those)."""
        data: dict[str, object] = {
            "scan_id": scan_id,
            "image": reference,
            "digest": digest,
            "error": reason,
        }
        self._notifier.send(SCAN_FAILED, data)
        if digest is None or self._images.scanned(digest):
            return
        try:
            ref = parse_reference(reference)
            subject = _reference_subject(ref, reference, digest, ScanState.FAILED)
            decision = self._gate.decide(subject, self.bundle, trigger=SCAN_TRIGGER)
            self._images.record_failure(
                ImageSubjectInfo(
                    digest=digest,
                    reference=reference,
                    registry=ref.registry or "",
                    repository=ref.repository or "",
                    platform=platform or "",
                    packages=0,
                ),
                scan_id=scan_id,
                policy_outcome=decision.outcome.value,
            )
        except TollgateError as error:
            logger.warning("scan %s: no decision on the failed scan: %s", scan_id, error)
            return
        if decision.outcome is Outcome.BLOCK:
            self._notifier.send(POLICY_FAILED, {**data, **decision_data(decision)})

    # --- verdicts from what is stored ------------------------------------------------

    def evaluate(
        self,
        digest: str,
        ref: ImageReference | None = None,
        *,
        bundle: str | None = None,
        record: bool = True,
        trigger: str | None = None,
    ) -> Verdict | None:
        """The verdict on the stored scan of ``digest`` as referenced by ``ref`` (the
        stored reference when None), or None when nothing is stored (never scanned, or
        its scan is still queued or running). ``record=False``: a dry run."""
        subject = self.stored_subject(digest, ref)
        if subject is None:
            return None
        return self._judge(subject, bundle, trigger, record=record)

    def dry_run(
        self, bundle: Bundle, digest: str, ref: ImageReference | None = None
    ) -> Decision | None:
        """``bundle``'s decision (any version, stored or not) on the stored scan of
        ``digest``, not recorded: what a policy or allowlist change would decide."""
        subject = self.stored_subject(digest, ref)
        if subject is None:
            return None
        return self._gate.evaluate(bundle, self._prepared(subject, ()))

    def stored_subject(
        self, digest: str, ref: ImageReference | None = None
    ) -> EvaluationInput | None:
        """The stored scan of ``digest`` as the policy engine sees it: catalog, findings,
        image config and size, its layer analysis and the signatures verified when it
        was scanned."""
        return self._subject_of(digest, ref, self._summary(digest))

    def _summary(self, digest: str) -> ImageSummary | None:
        try:
            return self._images.get(digest)
        except NotFoundError:
            return None

    def _subject_of(
        self, digest: str, ref: ImageReference | None, summary: ImageSummary | None
    ) -> EvaluationInput | None:
        """:meth:`stored_subject` with the image row already read (``summary``)."""
        if ref is None:
            if summary is None:
                return None
            ref = parse_reference(summary.reference)
        try:
            catalog: Catalog | None = self._catalogs.get(digest)
            findings = tuple(self._catalogs.findings(digest))
        except NotFoundError:
            if summary is None or summary.scan_state != ScanState.FAILED.value:
                return None
            return _reference_subject(ref, _named(ref, digest), digest, ScanState.FAILED)
        subject = _reference_subject(ref, _named(ref, digest), digest, ScanState.SCANNED)
        if summary is not None:
            subject = subject.model_copy(
                update={
                    "config": summary.config or subject.config,
                    "size": summary.size,
                    "signatures": summary.signatures,
                    "layers": summary.layers,
                }
            )
        return subject.model_copy(update={"catalog": catalog, "findings": findings})

    def assessment(self, digest: str) -> Assessment:
        """The stored findings of ``digest`` with the stored VEX documents applied, and the
        packages nothing could audit."""
        subject = self.stored_subject(digest)
        if subject is None:
            raise NotFoundError(f"no scanned image {digest}", hint="submit a scan for it first")
        return Assessment(self._with_vex(subject, ()), self._gaps(subject))

    # --- re-decisions ----------------------------------------------------------------

    def redecide(self, digests: Iterable[str], trigger: str) -> int:
        """Decide again on stored images (a policy, allowlist or VEX change): record each
        new decision with ``trigger`` and announce the images it newly blocks."""
        count = 0
        for digest in digests:
            image = self._summary(digest)
            subject = None if image is None else self._subject_of(digest, None, image)
            if image is None or subject is None:
                continue
            verdict = self._judge(subject, None, trigger)
            self._images.record(
                image.subject,
                verdict.findings,
                scan_id=image.last_scan_id,
                policy_outcome=verdict.decision.outcome.value,
                signatures=image.signatures,
            )
            if (
                verdict.decision.outcome is Outcome.BLOCK
                and image.policy_outcome != Outcome.BLOCK.value
            ):
                self._notifier.send(
                    POLICY_FAILED,
                    {
                        "image": image.reference,
                        "digest": digest,
                        **decision_data(verdict.decision),
                    },
                )
            count += 1
        return count

    def redecide_all(self, trigger: str) -> int:
        return self.redecide(self._images.digests(), trigger)

    def update(
        self,
        feeds: Sequence[AnyFeed],
        *,
        on_import: Callable[[ImportResult], None] | None = None,
        skip_failing: bool = False,
    ) -> UpdateResult:
        """Import ``feeds``; when an advisory changed, match the stored catalogs again and
        decide again on every image whose findings changed. ``skip_failing``: a feed that
        cannot be imported is logged and the others still are (scheduled updates)."""
        imports = []
        for feed in feeds:
            try:
                result = self._vulns.import_feed(feed)
            except VulnDBError as error:
                if not skip_failing:
                    raise
                logger.warning("feed %s not updated: %s", feed.source, error)
                continue
            imports.append(result)
            if on_import is not None:
                on_import(result)
        if not any(result.changed for result in imports):
            return UpdateResult(tuple(imports), None, 0)
        return replace(self.rematch(), imports=tuple(imports))

    def rematch(self) -> UpdateResult:
        """Match stored catalogs again after an import; decide again where findings changed
        so that a decision may change (a change of EPSS or KEV only where a rule on them
        counts the finding before and not after, or the reverse)."""
        from service.rematch import reevaluate

        result = reevaluate(self._catalogs, self._vulns)
        bundle = self._gate.bundle(self.bundle)
        redecided = 0
        for diff in result.diffs:
            if not _may_change_decision(diff, bundle):
                continue
            redecided += 1
            added = sorted({f.id for f in diff.new})
            gone = sorted({f.id for f in diff.resolved})
            rated = sorted({f.id for f in diff.updated})
            trigger = "; ".join(
                part
                for part in (
                    f"new advisories {_few(added)}" if added else "",
                    f"advisories resolved {_few(gone)}" if gone else "",
                    f"advisories updated {_few(rated)}" if rated else "",
                )
                if part
            )
            self.redecide([diff.digest], trigger)
            if added:
                self._notifier.send(
                    VULNERABILITY_NEW, {"digest": diff.digest, "vulnerabilities": added}
                )
        return UpdateResult((), result, redecided)

    # --- the shared tail ---------------------------------------------------------------

    def _judge(
        self,
        subject: EvaluationInput,
        bundle: str | None,
        trigger: str | None,
        *,
        extra_vex: Sequence[VexStatement] = (),
        record: bool = True,
    ) -> Verdict:
        subject = self._prepared(subject, extra_vex)
        decision = self._gate.decide(subject, bundle or self.bundle, trigger=trigger, record=record)
        return Verdict(decision, subject.findings, subject.not_evaluated, subject.signatures)

    def _prepared(
        self, subject: EvaluationInput, extra_vex: Sequence[VexStatement]
    ) -> EvaluationInput:
        """``subject`` as the rules see it: VEX applied, unauditable packages listed."""
        findings = self._with_vex(subject, extra_vex)
        return subject.model_copy(
            update={"findings": findings, "not_evaluated": self._gaps(subject)}
        )

    def _gaps(self, subject: EvaluationInput) -> tuple[NotEvaluated, ...]:
        if subject.catalog is None:
            return ()
        return not_evaluated(subject.catalog, self._vulns.ecosystems())

    def _with_vex(
        self, subject: EvaluationInput, extra: Sequence[VexStatement]
    ) -> tuple[Finding, ...]:
        statements = [*self._statements(subject.digest), *extra]
        scope = ImageScope(subject.digest, subject.registry, subject.repository)
        return tuple(apply_vex(subject.findings, statements, scope))

    def _statements(self, digest: str) -> list[VexStatement]:
        """The stored documents' statements: those for every image, and those attested on
        ``digest``. A stored document never changes, so each is parsed once (a re-decision
        of every image reads the same global documents again and again)."""
        statements: list[VexStatement] = []
        for document in self._vex.documents(digest):
            parsed = self._parsed_vex.get(document.id)
            if parsed is None:
                try:
                    parsed = tuple(parse_vex(document.content, name=document.name))
                except TollgateError as error:  # stored after validation: a schema change
                    logger.warning("VEX document %s skipped: %s", document.id, error)
                    parsed = ()
                if len(self._parsed_vex) >= _PARSED_VEX_LIMIT:
                    self._parsed_vex.clear()
                self._parsed_vex[document.id] = parsed
            statements.extend(parsed)
        return statements

    def _announce_scan(
        self, scan_id: str | None, reference: str, digest: str, verdict: Verdict
    ) -> None:
        summary = self._images.get(digest)
        data = {
            "scan_id": scan_id,
            "image": reference,
            "digest": digest,
            "findings": sum(1 for f in verdict.findings if f.vex is None),
            "severities": summary.severities,
            **decision_data(verdict.decision),
        }
        self._notifier.send(SCAN_COMPLETED, data)
        if verdict.decision.outcome is Outcome.BLOCK:
            self._notifier.send(POLICY_FAILED, data)


def decision_data(decision: Decision) -> dict[str, object]:
    """A decision as notifications carry it."""
    return {
        "policy": decision.outcome.value,
        "bundle": decision.bundle,
        "bundle_version": decision.bundle_version,
        "trigger": decision.trigger,
        "fired_rules": [
            {"id": r.rule_id, "action": r.action.value, "message": r.message}
            for r in decision.fired
        ],
    }


def _subject_info(
    image: PinnedImage, packages: int, layers: LayerAnalysis | None
) -> ImageSubjectInfo:
    ref = image.reference
    return ImageSubjectInfo(
        digest=image.digest,
        reference=image.display_name,
        registry=ref.registry or "",
        repository=ref.repository or "",
        platform=str(image.platform),
        packages=packages,
        config=image.config,
        size=image.size,
        layers=layers,
    )


def _named(ref: ImageReference, digest: str) -> str:
    """``ref`` as a reference naming ``digest`` (its tag kept)."""
    return format_reference(replace(ref, digest=digest))


def _reference_subject(
    ref: ImageReference, reference: str, digest: str, state: ScanState
) -> EvaluationInput:
    return EvaluationInput(
        reference=reference,
        registry=ref.registry or "",
        repository=ref.repository or "",
        tag=ref.tag,
        digest=digest,
        pinned_by_digest=ref.digest is not None,
        scan=state,
    )


def _may_change_decision(diff: FindingDiff, bundle: Bundle) -> bool:
    """Whether ``diff`` can change a decision under ``bundle``: findings came or went,
    changed in more than their exploitation signals, or in signals a rule counts."""
    if diff.new or diff.resolved:
        return True
    return any(
        _beyond_signals(before) != _beyond_signals(after) or signals_matter(bundle, before, after)
        for before, after in zip(diff.previous, diff.updated, strict=True)
    )


def _beyond_signals(finding: Finding) -> dict[str, object]:
    """A finding's fields, its exploitation signals (KEV, EPSS) left out."""
    return {**vars(finding), "kev": None, "epss": None}


def _few(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} (+{len(ids) - limit} more)"
