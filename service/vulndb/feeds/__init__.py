"""Vulnerability feed importers: each turns one upstream format into VulnRecords."""
