"""An image as the composition of its layers' contents, lowest first.

Each layer applies to the filesystem of the layers below it as the OCI image spec says:
its whiteouts delete a path and everything under it, an opaque directory hides every
lower entry beneath it, and the layer's own entries (which no whiteout of the same
layer affects) are added or replace what was there; a file replacing a directory hides
the directory's content, and a file under a path that was a file replaces it.

Efficiency follows ``dive`` (``filetree/efficiency.go``): every time a layer writes a
path counts its size and every time one deletes it counts 0; a path's smallest size
over the sum of all its sizes gives the score, and paths touched by more than one layer
are wasted with every copy. Two deliberate differences, both from honouring the
filesystem: deleting a directory counts each file it held as deleted (dive counts the
directory once, at its own path), and opaque directories delete (dive ignores them).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from service.layers.model import (
    Efficiency,
    Inefficiency,
    LayerAnalysis,
    LayerContents,
    LayerSummary,
    SecretFile,
)

MAX_INEFFICIENCIES = 20


@dataclass
class _Filesystem:
    files: dict[str, int] = field(default_factory=dict)  # path -> size
    writer: dict[str, int] = field(default_factory=dict)  # path -> index of the layer
    dirs: set[str] = field(default_factory=set)  # every ancestor of a file ever added
    sizes: dict[str, list[int]] = field(default_factory=dict)  # path -> each size it had

    def hidden_by(self, layer: LayerContents) -> set[str]:
        """The files below ``layer`` that it deletes or hides."""
        deleted = set(layer.whiteouts)
        opaque = set(layer.opaque)
        hidden_dirs = opaque | {path for path in layer.files if path in self.dirs}
        gone = (
            {path for path in self.files if _under_any(path, deleted, hidden_dirs)}
            if deleted or hidden_dirs
            else set()
        )
        for path in layer.files:  # a file under what was a file replaces it
            gone.update(a for a in _ancestors(path) if a in self.files)
        return gone

    def apply(self, index: int, layer: LayerContents) -> tuple[int, int, int]:
        """Apply ``layer``; the files it added, changed and removed."""
        removed = 0
        for path in self.hidden_by(layer):
            if path in layer.files:
                continue  # replaced by the layer's own entry: changed, below
            del self.files[path]
            del self.writer[path]
            self.sizes[path].append(0)
            removed += 1
        for path in layer.whiteouts:
            self.dirs.discard(path)
        changed = sum(1 for path in layer.files if path in self.files)
        for path, size in layer.files.items():
            self.files[path] = size
            self.writer[path] = index
            self.sizes.setdefault(path, []).append(size)
            self.dirs.update(_ancestors(path))
        return len(layer.files) - changed, changed, removed


def compose(layers: Sequence[LayerContents], commands: Sequence[str]) -> LayerAnalysis:
    """The analysis of the image whose layers, lowest first, are ``layers``, made by
    ``commands`` (each layer's ``created_by``)."""
    filesystem = _Filesystem()
    summaries = []
    for index, (layer, command) in enumerate(zip(layers, commands, strict=True)):
        added, changed, removed = filesystem.apply(index, layer)
        summaries.append(
            LayerSummary(
                index=index,
                digest=layer.digest,
                size=layer.size,
                compressed_size=layer.compressed_size,
                created_by=command,
                files_added=added,
                files_changed=changed,
                files_removed=removed,
            )
        )
    secrets = [
        SecretFile(
            path=secret.path,
            layer=layer.digest,
            layer_index=index,
            kind=secret.kind,
            visible=filesystem.writer.get(secret.path) == index,
        )
        for index, layer in enumerate(layers)
        for secret in layer.secrets
    ]
    return LayerAnalysis(
        layers=tuple(summaries),
        efficiency=_efficiency(filesystem.sizes, [s.size for s in summaries]),
        secret_files=tuple(secrets),
    )


def _efficiency(sizes: dict[str, list[int]], layer_sizes: list[int]) -> Efficiency:
    smallest = sum(min(each) for each in sizes.values())
    discovered = sum(sum(each) for each in sizes.values())
    repeated = [
        Inefficiency(path="/" + path, layers=len(each), cumulative_size=sum(each))
        for path, each in sizes.items()
        if len(each) > 1
    ]
    repeated.sort(key=lambda item: (-item.cumulative_size, item.path))
    wasted = sum(item.cumulative_size for item in repeated)
    user_size = sum(layer_sizes[1:])
    return Efficiency(
        score=smallest / discovered if discovered else 1.0,
        wasted_bytes=wasted,
        size=sum(layer_sizes),
        user_size=user_size,
        wasted_user_percent=wasted / user_size if user_size else None,
        inefficiencies=tuple(repeated[:MAX_INEFFICIENCIES]),
    )


def _ancestors(path: str) -> Iterable[str]:
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)


def _under_any(path: str, deleted: set[str], hidden_dirs: set[str]) -> bool:
    """``path`` is deleted itself, or lies under a deleted path or a hidden directory."""
    if path in deleted:
        return True
    return any(a in deleted or a in hidden_dirs for a in _ancestors(path))
