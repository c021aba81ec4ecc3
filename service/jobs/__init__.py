"""Scan jobs: what a queued scan does, whoever runs it (Celery workers or the embedded pool)."""
