"""Cosign-compatible keys, signatures and attestations stored in OCI registries."""
