"""Background work: scan jobs run by Celery workers or in-process (embedded mode)."""
