"""API authentication: bearer tokens with scopes."""
