"""Imports every transport module so that each registers its kind."""

from batchhub.core.storage import ftp, http, sftp  # noqa: F401
