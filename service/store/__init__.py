"""Persistence: the SQL engine and the stores built on it."""
