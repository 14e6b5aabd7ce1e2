"""The REST API's URL wiring: one NinjaAPI at the site root mounting every domain app's routers.

The framework (errors, authentication, the write pipeline, appliers) is the `api` app; each domain app keeps its
routes in its own `api.py`. A new app adds its routers here.
"""

from __future__ import annotations

from ninja import NinjaAPI

from batchhub.api.handlers import exception_handlers_install
from batchhub.campaigns.api import app_router as campaigns_app_router
from batchhub.profiles.api import app_router as profiles_app_router
from batchhub.profiles.api import project_router as profiles_project_router

api = NinjaAPI(
    title="BatchHub REST API",
    version="1.0",
    description=(
        "Batch-compatible inbound API. Per-app routes `/1.0/{APP_API_KEY}/…` authenticate with "
        "`X-Authorization: <REST API key>`; per-project routes `/2.x/…` with `Authorization: Bearer "
        "<REST API key>` and `X-Batch-Project: <project key>`."
    ),
    urls_namespace="api",
    openapi_url="/api/openapi.json",
    docs_url="/api/docs",
)
exception_handlers_install(api)
for router in (profiles_app_router, profiles_project_router, campaigns_app_router):
    api.add_router("", router)
