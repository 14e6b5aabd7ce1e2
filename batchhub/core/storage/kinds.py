"""Imports every transport module so that each registers its kind."""

from batchhub.core.storage import ftp, gcs, http, local, s3, sftp  # noqa: F401
