"""The API fixtures, for calls made with connectors' keys."""

from tests.api_client import api, api_app, applied, fresh_rate_limits  # noqa: F401 (fixtures)
