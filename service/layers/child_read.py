"""A layer read in a process of its own, beside the layers this process reads.

A layer read in place from an uncompressed blob (``docker save``, a plain OCI layout)
costs its walk alone, and a walk holds the interpreter: two walks in one process take
their sum, on any number of cores. The largest of an image's such layers is read by a
child process instead (``python -m service.layers.child_read``, started ahead by
:mod:`service.layers.standby` or when needed), as this process would read it — in
place, digest verified, its evidence published in the blob cache — while this process
reads the others: the walks take about the largest one's time instead of their sum.

The child answers on its stdout: the layer's contents, or an :class:`ImageError` it
met (a digest mismatch, an unreadable tar), raised again here as the same class. A
child that ends otherwise (killed, out of memory) is logged and the layer read here.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from service import errors, garbage
from service.errors import ImageError
from service.image.cache import BlobCache
from service.image.download import LayerArrivals
from service.image.inplace import BlobRange, InPlaceReader
from service.layers import standby

if TYPE_CHECKING:  # loaded with a result: a read ahead is given before these imports
    from service.layers.model import LayerContents

logger = logging.getLogger(__name__)

_STDERR_KEPT = 2000  # characters of a failed child's stderr in the log


def worth_a_child(layers: dict[str, BlobRange]) -> str | None:
    """Of ``layers`` to read, all uncompressed and in place, the one to read in a child:
    the largest, when there are others to read here, cores for both, and it is large
    enough to be worth a process."""
    if len(layers) < 2 or (os.cpu_count() or 1) < 2:
        return None
    largest = max(layers, key=lambda digest: layers[digest].size)
    return largest if layers[largest].size >= standby.MIN_SIZE else None


def child_layer(
    missing: Sequence[str], arrivals: LayerArrivals | None
) -> tuple[dict[str, BlobRange], str | None]:
    """Of the layers ``missing`` from the cache, those read in place from an uncompressed
    blob, and the one of them to read in a child when they all are (their walks are then
    all the work)."""
    plain = {}
    for digest in missing:
        where = arrivals.in_place(digest) if arrivals is not None else None
        if where is not None and where.uncompressed:
            plain[digest] = where
    return plain, worth_a_child(plain) if len(plain) == len(missing) else None


def read_ahead(
    blobs: BlobCache,
    layers: Sequence[str],
    arrivals: LayerArrivals,
    cached: Callable[[str], bool],
) -> None:
    """Give the child standing by (:mod:`service.layers.standby`), if one does, the read
    a :class:`ChildRead` will ask of it once this process has imported what reading
    layers needs: the layer :func:`child_layer` picks of ``layers`` not ``cached``."""
    missing = [digest for digest in dict.fromkeys(layers) if not cached(digest)]
    plain, largest = child_layer(missing, arrivals)
    if largest is not None:
        standby.read_ahead(largest, _job(blobs, plain[largest], largest))


def _job(blobs: BlobCache, where: BlobRange, digest: str) -> bytes:
    job = {
        "blobs": str(blobs.root),
        "path": str(where.path),
        "offset": where.offset,
        "size": where.size,
        "digest": digest,
    }
    return json.dumps(job).encode()


class ChildRead:
    """The read of layer ``digest`` at ``where`` by a child process, started at once
    (OSError if no process can be started)."""

    def __init__(self, blobs: BlobCache, where: BlobRange, digest: str) -> None:
        self.digest = digest
        self._lock = threading.Lock()
        self._done = False  # the child's exit collected
        self._cancelled = False
        self._process = standby.take(digest, _job(blobs, where, digest))

    def result(self) -> LayerContents | None:
        """The layer's contents once the child is done; None if it ended without an answer
        (read the layer here). Raises the ImageError the child met."""
        from pydantic import ValidationError

        from service.layers.model import LayerContents

        with self._lock:
            out, err = self._process.communicate()
            self._done = True
        if self._cancelled:
            raise ImageError(f"layer {self.digest}: its read was stopped")
        if self._process.returncode == 0:
            try:
                return LayerContents.model_validate_json(out)
            except ValidationError:
                pass
        else:
            _raise_reported(out)
        logger.warning(
            "the process reading layer %s ended (status %s) without its contents: reading "
            "it here. %s",
            self.digest,
            self._process.returncode,
            err.decode(errors="replace")[-_STDERR_KEPT:],
        )
        return None

    def cancel(self) -> None:
        """Stop the child if it still runs, from any thread: its result is not needed
        (:meth:`result` raises). Asked to end, it removes the evidence it was writing;
        one that has not ended after a few seconds is killed."""
        self._cancelled = True
        if self._process.poll() is None:
            self._process.terminate()  # first: a thread waiting in result() is released
        with self._lock:
            if not self._done:
                standby.stop(self._process)
                self._done = True


def _raise_reported(out: bytes) -> None:
    try:
        report = json.loads(out)
    except ValueError:
        return
    failure = report.get("error") if isinstance(report, dict) else None
    if not isinstance(failure, dict):
        return
    kind = getattr(errors, str(failure.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, ImageError)):
        kind = ImageError
    raise kind(str(failure.get("message")), hint=failure.get("hint"))


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the read: what it was writing is removed


def main() -> None:
    garbage.for_one_shot()
    from service.layers.reader import read_keeping_evidence

    signal.signal(signal.SIGTERM, _stop)
    sent = sys.stdin.buffer.read()
    if not sent:  # started ahead and never given a job
        return
    job = json.loads(sent)
    where = BlobRange(Path(job["path"]), job["offset"], job["size"], uncompressed=True)
    digest = job["digest"]
    try:
        with InPlaceReader(where, digest, f"layer {digest}") as blob:
            contents = read_keeping_evidence(BlobCache(Path(job["blobs"])), blob, digest)
    except ImageError as error:
        report = {"kind": type(error).__name__, "message": error.message, "hint": error.hint}
        sys.stdout.write(json.dumps({"error": report}))
        sys.exit(1)
    sys.stdout.write(contents.model_dump_json())
    sys.stdout.flush()
    # The answer is out: the parent waits for this exit before it catalogues. Tearing the
    # interpreter down (freeing the read's objects and every module's) took 40-60 ms.
    os._exit(0)


if __name__ == "__main__":
    main()
