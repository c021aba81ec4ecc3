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

from collections.abc import Sequence
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
    """The files visible after the layers applied so far, and the directories holding
    them (every ancestor of a file: a directory stays when its files are deleted one by
    one, and goes with a whiteout of itself or of an ancestor, or a file replacing it)."""

    files: dict[str, int] = field(default_factory=dict)  # path -> size
    writer: dict[str, int] = field(default_factory=dict)  # path -> index of the layer
    dirs: set[str] = field(default_factory=set)
    sizes: dict[str, list[int]] = field(default_factory=dict)  # path -> each size it had

    def _hide(self, layer: LayerContents) -> set[str]:
        """Forget the directories ``layer`` deletes or replaces with a file; the files
        below it that it deletes or hides."""
        deleted = set(layer.whiteouts)
        replaced = {path for path in layer.files if path in self.dirs}
        hidden_dirs = set(layer.opaque) | replaced
        gone = set()
        if deleted or hidden_dirs:
            gone = {path for path in self.files if _under_any(path, deleted, hidden_dirs)}
            self.dirs = {
                path
                for path in self.dirs
                if path not in deleted
                and path not in replaced
                and not _under_any(path, deleted, hidden_dirs, strict=True)
            }
        for path in layer.files:  # a file under what was a file replaces it
            parent = _parent(path)
            while parent and parent not in self.dirs:
                if parent in self.files:
                    gone.add(parent)
                parent = _parent(parent)
        return gone

    def apply(self, index: int, layer: LayerContents) -> tuple[int, int, int]:
        """Apply ``layer``; the files it added, changed and removed."""
        removed = 0
        for path in self._hide(layer):
            if path in layer.files:
                continue  # replaced by the layer's own entry: changed, below
            del self.files[path]
            del self.writer[path]
            self.sizes[path].append(0)
            removed += 1
        changed = sum(1 for path in layer.files if path in self.files)
        for path, size in layer.files.items():
            self.files[path] = size
            self.writer[path] = index
            self.sizes.setdefault(path, []).append(size)
            parent = _parent(path)
            while parent and parent not in self.dirs:
                self.dirs.add(parent)
                parent = _parent(parent)
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


def _parent(path: str) -> str:
    return path[: max(path.rfind("/"), 0)]


def _under_any(
    path: str, deleted: set[str], hidden_dirs: set[str], *, strict: bool = False
) -> bool:
    """``path`` is deleted itself, or lies under a deleted path or a hidden directory
    (``strict``: only under them)."""
    if not strict and path in deleted:
        return True
    parent = _parent(path)
    while parent:
        if parent in deleted or parent in hidden_dirs:
            return True
        parent = _parent(parent)
    return False
