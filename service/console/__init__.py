"""The security console: server-rendered pages over the same stores and dashboard queries
as the JSON API, mounted at ``/`` of ``tollgate serve`` (``create_console``)."""
