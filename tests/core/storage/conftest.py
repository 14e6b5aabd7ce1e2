"""Real storage servers on loopback, each started once per test session (their modules hold the fixtures)."""

from tests.core.storage.servers_cloud import *  # noqa: F403
from tests.core.storage.servers_net import *  # noqa: F403
