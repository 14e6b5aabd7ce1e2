"""Database and store helpers: SQL fragments, bulk writers (COPY), time-ordered ids, keyset pagination, Redis, and the
registry of per-app deletions of a profile's data."""
