"""Stage 4: Tollgate's own vulnerability database and matching."""
