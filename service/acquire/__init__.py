"""Acquire: an image reference (registry, OCI layout, archive) pinned by digest, its layers
in the blob cache (the first stage, over :mod:`service.registry` and :mod:`service.image`)."""
