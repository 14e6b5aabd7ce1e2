"""The storage transports' tests: their clients' loggers opened fully. The real storage servers on loopback they
use are started once per test session by the fixtures tests/conftest.py takes from servers_net and servers_cloud
(shared with the exports' tests)."""

import logging

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _storage_clients_log_everything():
    """Settings keep the storage clients' loggers at WARNING; the tests open them fully, so that a secret in any
    line a library could write (were someone to lower the level) is caught."""
    loggers = {name: logging.getLogger(name) for name in settings.STORAGE_CLIENT_LOGGERS}
    levels = {name: logger.level for name, logger in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.NOTSET)
    yield
    for name, logger in loggers.items():
        logger.setLevel(levels[name])
