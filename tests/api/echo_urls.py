"""A tiny API of a kind no domain app knows ("tests.echo"), mounted only by the tests that use it: a new app adds
a route and its applier without touching another app."""

from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI, Path

from batchhub.api.errors import APP_FAMILY
from batchhub.api.handlers import exception_handlers_install
from batchhub.api.pipeline import APP_VERSION, ApiRouter, accept_write

api = NinjaAPI(urls_namespace="echo_api", docs_url=None, openapi_url=None)
exception_handlers_install(api)
router = ApiRouter(APP_FAMILY, tags=["echo"])


@router.write("POST", "/{version}/{api_key}/echo", body=dict, summary="Echo", name="echo")
def echo(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request, route="tests.echo", feature="custom_data", check=lambda body, now: ("tests.echo", [body], None)
    )


api.add_router("", router)
urlpatterns = [path("", api.urls)]
