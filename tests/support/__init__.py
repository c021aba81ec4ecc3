"""Test infrastructure: a real local registry, OCI layout builders and real test images."""
