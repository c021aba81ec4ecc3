"""Tollgate: the container supply-chain gate.

The stages, in the order a scan runs them (one subpackage each, floor 2):

1. ``acquire`` (over ``registry`` and ``image``): a reference pinned by digest, its layers
   in the blob cache;
2. ``catalog``: Syft or Trivy list the packages (``scanning.Orchestrator`` runs 1-3);
3. ``vulndb``: match against Tollgate's advisories, apply VEX, list what could not be
   evaluated (``sbom`` describes the catalog as CycloneDX or SPDX);
4. ``signing``: verify signatures and attestations, sign and attest passed images;
5. ``policies`` (top-level package) through ``gate``: the decision, recorded;
6. ``store``: images, catalogs, findings, decisions; ``notify``: events out.

``pipeline.Pipeline`` is the one place where a scan becomes a verdict, and where stored
images are decided again (feed update, policy, allowlist or VEX change). ``wiring`` builds
every collaborator from ``settings.Settings``; the entry points are ``cli`` (``tollgate``),
``api`` (REST, admission webhooks) and the top-level ``workers`` package (Celery tasks),
with ``admission`` and ``jobs`` (the lease and retries of a queued scan) beside the
pipeline. ``errors.TollgateError`` is the one error hierarchy.
"""

__version__ = "0.1.0"
