"""The HTTP API (FastAPI): scans, images, webhooks, Harbor adapter, dashboard, health."""
