"""Tollgate's own OCI distribution client."""
