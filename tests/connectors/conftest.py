"""The API fixtures, for calls made with connectors' keys; a world for daily exports."""

import pytest

from batchhub.connectors.models import ExportConfig
from tests.api_client import api, api_app, applied, fresh_rate_limits  # noqa: F401 (fixtures)
from tests.factories import AppFactory, ConnectorFactory, DestinationFactory


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def world(db, storage_root):
    """(app MyShop on iOS, a connector of its project, a local-folder destination, the folder it writes to)."""
    app = AppFactory(name="MyShop", platform="ios")
    connector = ConnectorFactory(project=app.project)
    destination = DestinationFactory(connector=connector, location={"path": "daily"})
    folder = storage_root / "exports" / connector.partner.slug / "daily"
    return app, connector, destination, folder


def export_config_make(world, kind: str, identifier: str = "installation_id") -> ExportConfig:
    app, connector, destination, _ = world
    return ExportConfig.objects.create(connector=connector, app=app, kind=kind, identifier=identifier,
                                       destination=destination)  # fmt: skip
