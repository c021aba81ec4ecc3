"""What a layer contributes, and what the composition of an image's layers shows.

:class:`LayerContents` is cached by layer digest: it depends on the layer's bytes only.
:class:`LayerAnalysis` is the image's: per-layer figures, efficiency and the secret
files, all of which depend on the order of the layers below and above.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, field_serializer

from service.model_base import FrozenModel


class SecretKind(StrEnum):
    PRIVATE_KEY = "private_key"
    AWS_ACCESS_KEY_ID = "aws_access_key_id"
    AWS_CREDENTIALS = "aws_credentials"
    REGISTRY_CREDENTIALS = "registry_credentials"  # .docker/config.json with auths
    DOTENV = "dotenv"
    NPM_TOKEN = "npm_token"  # noqa: S105 - a kind of file, not a credential
    PYPI_PASSWORD = "pypi_password"  # noqa: S105 - a kind of file, not a credential
    GIT_CREDENTIALS = "git_credentials"


class LayerSecret(FrozenModel):
    """A file of one layer that holds a credential: where and what kind, never its value."""

    path: str
    kind: SecretKind


class EvidenceListing(FrozenModel):
    """The entries of one evidence layer: regular files (and hard links, devices),
    symlinks, and whether it deletes (a whiteout or an opaque marker)."""

    files: frozenset[str] = frozenset()
    symlinks: frozenset[str] = frozenset()
    deletes: bool = False

    @field_serializer("files", "symlinks")
    def _sorted(self, paths: frozenset[str]) -> list[str]:
        return sorted(paths)  # the same listing, the same JSON


class LayerEvidence(FrozenModel):
    """What a layer keeps for Syft: its evidence (an uncompressed tar in the blob cache,
    its digest also its diff_id), whether it holds all a cataloger could read, and what
    the tar holds. Read alone from a cached :class:`LayerContents` (its other fields
    skipped): an SBOM needs no more of the layers below a push, and the largest layer's
    file sizes are most of its entry (1.7 MB of 1.8 MB on the bench image's)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    digest: str
    evidence: str | None = None
    evidence_understood: bool = True
    evidence_listing: EvidenceListing | None = None  # what the evidence tar holds


class LayerContents(LayerEvidence):
    """The facts one layer contributes, from its tar alone (paths without a leading ``/``).

    ``files``: every non-directory entry and its size (links and empty files are 0);
    ``whiteouts``: paths the layer deletes from the layers below (``.wh.<name>``);
    ``opaque``: directories whose lower content the layer hides (``.wh..wh..opq``).
    """

    model_config = ConfigDict(extra="forbid")  # FrozenModel's, relaxed by LayerEvidence

    compressed_size: int  # the blob
    files: dict[str, int] = Field(default_factory=dict)
    whiteouts: tuple[str, ...] = ()
    opaque: tuple[str, ...] = ()
    secrets: tuple[LayerSecret, ...] = ()

    @property
    def size(self) -> int:
        """What ``dive`` calls the layer's size: the bytes of its files."""
        return sum(self.files.values())


class LayerSummary(FrozenModel):
    """One layer as the image's filesystem sees it: changes counted against the layers
    below (non-directory entries; a file deleted with its directory counts as removed)."""

    index: int
    digest: str
    size: int  # bytes of the files in the layer
    compressed_size: int  # the blob
    created_by: str = ""
    files_added: int = 0
    files_changed: int = 0
    files_removed: int = 0


class Inefficiency(FrozenModel):
    """A path written by more than one layer, or written and removed: every copy counts."""

    path: str
    layers: int  # how many layers wrote or removed it
    cumulative_size: int


class Efficiency(FrozenModel):
    """``dive``'s figures: ``score`` is the smallest size each path ever had over the sum of
    every size it had (1.0 for an image that writes each file once); ``wasted_bytes`` sums
    the sizes of every path touched by more than one layer; ``user_size`` leaves out the
    first (base) layer. ``inefficiencies``: the largest such paths, largest first."""

    score: float = Field(ge=0.0, le=1.0)
    wasted_bytes: int
    size: int
    user_size: int
    wasted_user_percent: float | None  # None for a one-layer image
    inefficiencies: tuple[Inefficiency, ...] = ()


class SecretFile(FrozenModel):
    """A credential shipped in a layer. ``visible`` is False when a later layer deleted or
    replaced it: it is still in the image, for anyone who pulls the layer."""

    path: str
    layer: str  # digest
    layer_index: int
    kind: SecretKind
    visible: bool


class LayerAnalysis(FrozenModel):
    layers: tuple[LayerSummary, ...]
    efficiency: Efficiency
    secret_files: tuple[SecretFile, ...] = ()
