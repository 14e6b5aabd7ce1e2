"""The API fixtures (the framework's tests call the REST API): one definition, in tests/api_client.py."""

from tests.api_client import api, api_app, applied, fresh_rate_limits, other_app  # noqa: F401 (fixtures)
