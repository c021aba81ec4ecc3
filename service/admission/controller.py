"""Admit or deny a workload from stored verdicts, one image at a time.

Each image is resolved to a digest (tags through the cached resolver), then judged by
its stored verdict. Images Tollgate has never scanned are handled per
``TOLLGATE_ADMISSION_UNKNOWN_IMAGE``; when Tollgate cannot decide (registry down,
database error, scan not finished within the time budget) it denies unless
``TOLLGATE_ADMISSION_FAIL_OPEN`` is set. In ``warn`` mode nothing is denied: every
problem becomes a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Literal, Protocol

from policies.decision import Decision, Outcome
from policies.model import Action
from service.admission.review import AdmissionRequest
from service.admission.workloads import ImageUse, WorkloadError, new_image_uses
from service.errors import ManifestUnknownError, TollgateError
from service.image.model import ImageReference
from service.image.reference import parse_reference
from service.settings import Settings

logger = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.1
_PARSED_REFERENCES = 4096  # image strings recently seen (parsing is ~20 µs each)
_CONCURRENT_IMAGES = 8  # images of one review resolved side by side


class Resolver(Protocol):
    def digest(self, ref: ImageReference) -> str: ...

    def platform_digest(self, ref: ImageReference, digest: str) -> str: ...

    def cached_digest(self, ref: ImageReference) -> str | None:
        """``digest(ref)`` if it needs no registry call, else None."""

    def cached_platform_digest(self, digest: str) -> str | None:
        """``platform_digest`` if it is known without a registry call, else None."""


class Verdicts(Protocol):
    def decision(self, digest: str, ref: ImageReference) -> Decision | None: ...

    def cached(self, digest: str) -> Decision | None:
        """The current verdict if it is in memory (no I/O), else None."""


class ScanRequests(Protocol):
    def request(self, ref: ImageReference, digest: str) -> str: ...

    def finished(self, scan_id: str) -> bool: ...


@dataclass(frozen=True)
class AdmissionSettings:
    mode: Literal["enforce", "warn"] = "enforce"
    unknown_image: Literal["block", "allow-and-queue", "scan"] = "block"
    exempt_namespaces: frozenset[str] = frozenset()
    scan_budget: float = 7.0
    fail_open: bool = False
    max_images: int = 100

    @classmethod
    def of(cls, settings: Settings) -> AdmissionSettings:
        return cls(
            mode=settings.admission_mode,
            unknown_image=settings.admission_unknown_image,
            exempt_namespaces=frozenset(settings.admission_exempt_namespaces),
            scan_budget=settings.admission_scan_budget_seconds,
            fail_open=settings.admission_fail_open,
            max_images=settings.admission_max_images,
        )


class State(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    WARN = "warn"
    BLOCK = "block"
    UNKNOWN = "unknown"  # never scanned
    UNDECIDED = "undecided"  # Tollgate could not find out


@dataclass(frozen=True)
class ImageVerdict:
    use: ImageUse
    state: State
    digest: str | None = None
    decision: Decision | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        return f"image {self.use.image}" + (f" ({self.digest})" if self.digest else "")


@dataclass(frozen=True)
class AdmissionResult:
    allowed: bool
    message: str | None
    warnings: tuple[str, ...]
    images: tuple[ImageVerdict, ...]


class AdmissionController:
    def __init__(
        self,
        resolver: Resolver,
        verdicts: Verdicts,
        scans: ScanRequests,
        settings: AdmissionSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._resolver = resolver
        self._verdicts = verdicts
        self._scans = scans
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._parse = lru_cache(maxsize=_PARSED_REFERENCES)(parse_reference)

    def review(self, request: AdmissionRequest) -> AdmissionResult:
        """Judge every image, asking the registry and database as needed (blocking)."""
        deadline = self._clock() + self._settings.scan_budget
        result = self._review(request, lambda use: self._judge(use, deadline), concurrently=True)
        assert result is not None
        return result

    def review_cached(self, request: AdmissionRequest) -> AdmissionResult | None:
        """The answer from in-memory caches alone (no I/O, safe on an event loop), or None
        when some image needs the registry or the database: then call :meth:`review`."""
        return self._review(request, self._judge_cached)

    def _judged(
        self,
        uses: Sequence[ImageUse],
        judge: Callable[[ImageUse], ImageVerdict | None],
        *,
        concurrently: bool,
    ) -> dict[str, ImageVerdict] | None:
        """Each distinct image judged once (by its first use); None as soon as ``judge``
        cannot answer. ``concurrently``: the images of one review are resolved and looked up
        side by side, so the slowest, not the sum, counts against the webhook's timeout."""
        firsts: dict[str, ImageUse] = {}
        for use in uses:
            firsts.setdefault(use.image, use)
        if concurrently and len(firsts) > 1:
            with ThreadPoolExecutor(
                max_workers=min(len(firsts), _CONCURRENT_IMAGES), thread_name_prefix="admission"
            ) as pool:
                answers = list(pool.map(judge, firsts.values()))
        else:
            answers = []
            for use in firsts.values():
                answers.append(judge(use))
                if answers[-1] is None:
                    return None
        if any(answer is None for answer in answers):
            return None
        return {image: answer for image, answer in zip(firsts, answers, strict=True) if answer}

    def _review(
        self,
        request: AdmissionRequest,
        judge: Callable[[ImageUse], ImageVerdict | None],
        *,
        concurrently: bool = False,
    ) -> AdmissionResult | None:
        if request.operation not in ("CREATE", "UPDATE") or request.object is None:
            return AdmissionResult(True, None, (), ())
        if request.namespace in self._settings.exempt_namespaces:
            logger.info("admitted %s/%s: namespace exempt", request.namespace, request.name)
            return AdmissionResult(True, None, (), ())
        try:
            uses = new_image_uses(request.kind.kind, request.object, request.old_object)
        except WorkloadError as error:
            return self._combine(
                [ImageVerdict(ImageUse("?", "", ""), State.UNDECIDED, reason=str(error))]
            )
        images = len({use.image for use in uses})
        if images > self._settings.max_images:
            return self._combine([_too_many(images, self._settings.max_images)])
        judged = self._judged(uses, judge, concurrently=concurrently)
        if judged is None:
            return None
        verdicts = []
        for use in uses:
            first = judged[use.image]
            verdicts.append(
                ImageVerdict(use, first.state, first.digest, first.decision, first.reason)
            )
        result = self._combine(verdicts)
        logger.info(
            "admission %s %s %s/%s: %s (%d image(s))",
            request.uid,
            request.kind.kind,
            request.namespace,
            request.name,
            "allowed" if result.allowed else "denied",
            len(verdicts),
        )
        return result

    def _judge_cached(self, use: ImageUse) -> ImageVerdict | None:
        try:
            ref = self._parse(use.image)
        except TollgateError:
            return None  # the full path explains it
        if ref.registry is None:
            return None
        digest = self._resolver.cached_digest(ref)
        if digest is None:
            return None
        decision = self._verdicts.cached(digest)
        if decision is None:
            platform = self._resolver.cached_platform_digest(digest)
            if platform is None or platform == digest:
                return None
            decision = self._verdicts.cached(platform)
            if decision is None:
                return None
        return _judged(use, digest, decision)

    def _judge(self, use: ImageUse, deadline: float) -> ImageVerdict:
        digest: str | None = None
        try:
            ref = self._parse(use.image)
            if ref.registry is None or ref.repository is None:
                return ImageVerdict(
                    use,
                    State.UNDECIDED,
                    reason=f"it names a {ref.transport} image, not one in a registry",
                )
            digest = self._resolver.digest(ref)
            decision = self._stored(ref, digest)
            if decision is None:
                return self._unknown(use, ref, digest, deadline)
        except ManifestUnknownError as error:
            return ImageVerdict(use, State.BLOCK, digest, reason=error.message)
        except TollgateError as error:
            logger.warning("cannot decide on %s: %s", use.image, error)
            return ImageVerdict(use, State.UNDECIDED, digest, reason=str(error))
        except Exception:  # admission answers whatever happens (a 500 would skip fail-closed)
            logger.exception("cannot decide on %s", use.image)
            return ImageVerdict(use, State.UNDECIDED, digest, reason="an internal error (logged)")
        return _judged(use, digest, decision)

    def _stored(self, ref: ImageReference, digest: str) -> Decision | None:
        decision = self._verdicts.decision(digest, ref)
        if decision is not None:
            return decision
        platform = self._resolver.platform_digest(ref, digest)  # an index: its image for us
        return self._verdicts.decision(platform, ref) if platform != digest else None

    def _unknown(
        self, use: ImageUse, ref: ImageReference, digest: str, deadline: float
    ) -> ImageVerdict:
        handling = self._settings.unknown_image
        if handling == "block":
            return ImageVerdict(use, State.UNKNOWN, digest, reason="it has not been scanned")
        scan_id = self._scans.request(ref, digest)
        if handling == "allow-and-queue":
            return ImageVerdict(
                use,
                State.UNKNOWN,
                digest,
                reason=f"it has not been scanned (scan {scan_id} queued)",
            )
        while not self._scans.finished(scan_id):
            if self._clock() >= deadline:
                return ImageVerdict(
                    use,
                    State.UNDECIDED,
                    digest,
                    reason=f"its scan {scan_id} did not finish within "
                    f"{self._settings.scan_budget:g}s (retry once it has)",
                )
            self._sleep(min(_POLL_INTERVAL_S, max(0.0, deadline - self._clock())))
        decision = self._stored(ref, digest)
        if decision is None:
            return ImageVerdict(
                use, State.UNDECIDED, digest, reason=f"its scan {scan_id} gave no verdict"
            )
        return _judged(use, digest, decision)

    def _combine(self, verdicts: list[ImageVerdict]) -> AdmissionResult:
        denials: list[str] = []
        warnings: list[str] = []
        for verdict in verdicts:
            text = _describe(verdict, self._settings)
            if text is None:
                continue
            if self._denies(verdict):
                denials.append(text)
            else:
                warnings.append(text)
        warnings += [_warned(v) for v in verdicts if v.state is State.WARN]
        unique_warnings = tuple(dict.fromkeys(warnings))
        if denials:
            return AdmissionResult(
                False, "; ".join(dict.fromkeys(denials)), unique_warnings, tuple(verdicts)
            )
        return AdmissionResult(True, None, unique_warnings, tuple(verdicts))

    def _denies(self, verdict: ImageVerdict) -> bool:
        if self._settings.mode == "warn":
            return False
        if verdict.state is State.BLOCK:
            return True
        if verdict.state is State.UNKNOWN:
            return self._settings.unknown_image != "allow-and-queue"
        return verdict.state is State.UNDECIDED and not self._settings.fail_open


_STATES = {Outcome.PASS: State.PASS, Outcome.WARN: State.WARN, Outcome.BLOCK: State.BLOCK}


def _too_many(images: int, limit: int) -> ImageVerdict:
    """A workload naming more images than admission checks: blocked, whatever fail-open says
    (else a long image list would be a way around every check)."""
    return ImageVerdict(
        ImageUse("?", "", ""),
        State.BLOCK,
        reason=f"the workload names {images} images; admission checks at most {limit} "
        "(TOLLGATE_ADMISSION_MAX_IMAGES)",
    )


def _judged(use: ImageUse, digest: str, decision: Decision) -> ImageVerdict:
    return ImageVerdict(use, _STATES[decision.outcome], digest, decision)


def _describe(verdict: ImageVerdict, settings: AdmissionSettings) -> str | None:
    """What blocks (or, when not enforced, would block) this image; None when nothing does."""
    if verdict.state is State.BLOCK:
        if verdict.decision is None:
            return f"{verdict.label} is blocked: {verdict.reason}"
        return f"{verdict.label} is blocked by {_policy(verdict.decision)}: " + _rules(
            verdict.decision, Action.BLOCK
        )
    if verdict.state is State.UNKNOWN:
        if settings.unknown_image == "allow-and-queue":
            return f"{verdict.label} was admitted unchecked: {verdict.reason}"
        return (
            f"{verdict.label} is unknown to Tollgate: {verdict.reason}; scan it first "
            "(tollgate scan or POST /api/v1/scans)"
        )
    if verdict.state is State.UNDECIDED:
        failing = "admitted anyway (fail-open)" if settings.fail_open else "denied (fail-closed)"
        return f"Tollgate cannot decide on {verdict.label}: {verdict.reason}; {failing}"
    return None


def _warned(verdict: ImageVerdict) -> str:
    assert verdict.decision is not None
    return f"{verdict.label}: {_policy(verdict.decision)} warns: " + _rules(
        verdict.decision, Action.WARN
    )


def _policy(decision: Decision) -> str:
    version = f" v{decision.bundle_version}" if decision.bundle_version is not None else ""
    return f"policy {decision.bundle or '-'}{version}/{decision.policy}"


def _rules(decision: Decision, action: Action) -> str:
    return ", ".join(
        f"rule {r.rule_id} ({r.message})" for r in decision.fired if r.action is action
    )
