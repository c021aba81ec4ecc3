"""Tollgate: the container supply-chain gate.

Pipeline, one subpackage per stage:
image (acquire and pin) -> catalog (Syft, Trivy) -> sbom (CycloneDX, SPDX)
-> vulndb (match) -> signing -> policy -> store/api.
"""

__version__ = "0.1.0"
