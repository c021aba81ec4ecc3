"""Who makes an SBOM document: this process, or a child forked as the SBOM command starts.

A command that makes one SBOM spends most of its time on imports, one core busy and
the other idle: on a push whose base was analysed, 0.3 s to fetch and catalogue the
image, then ~0.1 s on the writer alone (cyclonedx-python-lib and the schema it checks
against, imported and compiled: 0.09 s of it). :class:`WriterProcess` forks a child
first thing, which imports the writer and compiles its schema on the other core while
this process fetches and catalogues; it then makes the documents this process asks
for, from the catalog as JSON. Forking copies only the calling thread, so a process
with any other thread (the API, a worker) never forks (:mod:`service.sbom.forked`);
nor does one without a second core. A child that is gone, or that fails otherwise than
with an SBOMError, leaves the document to this process.
"""

from __future__ import annotations

import contextlib
import enum
import os
import pickle
import signal
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, NoReturn

from service.errors import SBOMError
from service.sbom import (
    SbomFormat,
    extended,
    forked,
    import_writer,
    render,
    resubjected,
    writer_imported,
)

if TYPE_CHECKING:
    from service.catalog.model import Catalog, Package


class SbomWriter:
    """Makes SBOM documents as :func:`~service.sbom.render`,
    :func:`~service.sbom.resubjected` and :func:`~service.sbom.extended` do: here
    (:class:`WriterProcess`: in a forked child)."""

    def render(self, catalog: Catalog, fmt: SbomFormat, *, created: datetime | None) -> str:
        text = self._make(_Request("render", fmt, created, catalog))
        assert text is not None  # a render always makes a document
        return text

    def resubjected(
        self, template: str, catalog: Catalog, fmt: SbomFormat, *, created: datetime | None
    ) -> str | None:
        return self._make(_Request("resubjected", fmt, created, catalog, template))

    def extended(
        self,
        template: str,
        catalog: Catalog,
        added: tuple[Package, ...],
        fmt: SbomFormat,
        *,
        created: datetime | None,
    ) -> str | None:
        return self._make(_Request("extended", fmt, created, catalog, template, added))

    def _make(self, request: _Request) -> str | None:
        return request.made()


# (operation, format, creation time, template, catalog as JSON, indexes of the added packages)
_Job = tuple[str, str, datetime | None, str | None, bytes, list[int]]


@dataclass(frozen=True)
class _Request:
    operation: str
    fmt: SbomFormat
    created: datetime | None
    catalog: Catalog
    template: str | None = None
    added: tuple[Package, ...] = ()

    def made(self) -> str | None:
        if self.operation == "render":
            return render(self.catalog, self.fmt, created=self.created)
        assert self.template is not None
        if self.operation == "resubjected":
            return resubjected(self.template, self.catalog, self.fmt, created=self.created)
        return extended(self.template, self.catalog, self.added, self.fmt, created=self.created)

    def job(self) -> _Job:
        """The request as the child reads it: the added packages by their place."""
        index = {id(package): number for number, package in enumerate(self.catalog.packages)}
        return (
            self.operation,
            self.fmt.value,
            self.created,
            self.template,
            self.catalog.model_dump_json().encode(),
            [index[id(package)] for package in self.added],
        )

    @classmethod
    def of_job(cls, job: _Job) -> _Request:
        from service.catalog.model import Catalog

        operation, fmt, created, template, catalog_json, added = job
        catalog = Catalog.model_validate_json(catalog_json)
        packages = tuple(catalog.packages[number] for number in added)
        return cls(operation, SbomFormat(fmt), created, catalog, template, packages)


class WriterProcess(SbomWriter):
    """The documents of ``fmt`` made by a child forked at creation when ``fork`` (see the
    module), here where it cannot fork or is gone, or already imported the writer (a
    resident process's command): nothing to run beside. :meth:`close` ends it."""

    def __init__(self, fmt: SbomFormat, *, fork: bool = True) -> None:
        self._fmt = fmt
        self._child: tuple[int, IO[bytes], IO[bytes]] | None = None
        if not (fork and forked.may_fork()) or writer_imported(fmt):
            return
        try:
            pid, [(jobs_out, jobs_in), (answers_out, answers_in)] = forked.forked_with_pipes(2)
        except OSError:  # no process or pipe to be had: the documents are made here
            return
        if pid == 0:
            os.close(jobs_in)
            os.close(answers_out)
            _serve(fmt, jobs_out, answers_in)
        os.close(jobs_out)
        os.close(answers_in)
        self._child = (pid, os.fdopen(jobs_in, "wb"), os.fdopen(answers_out, "rb"))

    def close(self) -> None:
        """Stop the child and collect it. It holds nothing but what it imported (no job
        is in flight between two calls): a command answered from the cache does not
        wait for those imports to end."""
        child, self._child = self._child, None
        if child is None:
            return
        pid, jobs, answers = child
        with contextlib.suppress(OSError):
            jobs.close()
        answers.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def _make(self, request: _Request) -> str | None:
        answer = self._answer(request)
        if answer is not _UNANSWERED:
            return answer
        import_writer(request.fmt)  # this process as the writer: imports once
        return request.made()

    def _answer(self, request: _Request) -> str | _Unanswered | None:
        """The child's document (None: it cannot be made that way), or _UNANSWERED when
        there is no child, it is gone, or it failed otherwise than with an SBOMError."""
        if self._child is None or request.fmt is not self._fmt:
            return _UNANSWERED
        _, jobs, answers = self._child
        try:
            pickle.dump(request.job(), jobs, protocol=pickle.HIGHEST_PROTOCOL)
            jobs.flush()
            status, *value = pickle.load(answers)  # noqa: S301 - from this process's fork
        except (OSError, EOFError, pickle.UnpicklingError):
            self.close()  # gone: this process makes the documents from now on
            return _UNANSWERED
        if status == "sbom-error":
            raise SBOMError(value[0], hint=value[1])
        if status != "ok":
            return _UNANSWERED  # made again here, which reports what fails as it would
        text: str | None = value[0]
        return text


class _Unanswered(enum.Enum):
    UNANSWERED = enum.auto()


_UNANSWERED = _Unanswered.UNANSWERED


def _serve(fmt: SbomFormat, jobs: int, answers: int) -> NoReturn:
    """The child: import the writer, then answer each job until the jobs end."""
    with contextlib.suppress(BaseException):
        _detach(jobs, answers)
        import_writer(fmt)
        with os.fdopen(jobs, "rb") as inbox, os.fdopen(answers, "wb") as outbox:
            while True:
                try:
                    job: _Job = pickle.load(inbox)  # noqa: S301 - from the parent, its pipe
                except EOFError:
                    break
                pickle.dump(_answered(job), outbox, protocol=pickle.HIGHEST_PROTOCOL)
                outbox.flush()
    os._exit(0)  # no exit handlers of the parent's, no buffers of its flushed


def _detach(*kept: int) -> None:
    """Let go of what the child inherited but its pipes (``kept``) and its log (standard
    error, where the command's goes): a pipe another process reads to its end (the
    job given to a layer-reading child, the command's output) must end when the command
    closes it, not when this child exits."""
    null = os.open(os.devnull, os.O_RDWR)
    for stream in (0, 1):
        os.dup2(null, stream)
    os.close(null)
    lowest = 3
    for descriptor in sorted(kept):
        os.closerange(lowest, descriptor)
        lowest = descriptor + 1
    os.closerange(lowest, os.sysconf("SC_OPEN_MAX"))


def _answered(job: _Job) -> tuple[Any, ...]:
    try:
        return ("ok", _Request.of_job(job).made())
    except SBOMError as error:
        return ("sbom-error", error.message, error.hint)
    except Exception as error:  # made again in the parent, which reports it as it would
        return ("failed", f"{type(error).__name__}: {error}")
