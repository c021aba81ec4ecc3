"""Outgoing notifications: HMAC-signed webhook POSTs."""
