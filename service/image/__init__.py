"""Stage 1: acquire an image from a registry, OCI layout or archive and pin it by digest."""
