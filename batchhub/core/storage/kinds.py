"""Imports every transport module so that each registers its kind."""

from batchhub.core.storage import gcs, local, s3  # noqa: F401
