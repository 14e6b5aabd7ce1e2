from __future__ import annotations

from django.conf import settings
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from batchhub.core.web.context import RequestContext, current_request


class ClientAddressMiddleware:
    """Behind proxies listed in TRUSTED_PROXIES, the client's address is the last one of `X-Forwarded-For` that
    is not a trusted proxy: the login and key-guessing throttles and the audit count the client, not the proxy
    (through which every client would share one address). A header from anyone else is ignored: forgeable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        trusted = settings.TRUSTED_PROXIES
        if trusted and request.META.get("REMOTE_ADDR") in trusted:
            hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
            for hop in reversed(hops):
                if hop not in trusted:
                    request.META["REMOTE_ADDR"] = hop[:45]
                    break
        return self.get_response(request)


class RequestContextMiddleware:
    """Remembers the caller's address for the audit log while the request runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(
            RequestContext(
                ip_address=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
            )
        )
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)


class _WholePage(HtmxDetails):
    def __bool__(self) -> bool:
        return False


class HtmxHistoryRestoreMiddleware:
    """htmx asks the server for a page it pushed to the history (hx-push-url) when its own history cache no longer
    holds it, with `HX-Request` and `HX-History-Restore-Request`: it needs the whole page, so to the views this is
    no htmx request. Views answer a fragment or the page by `request.htmx`: every answer varies with both headers
    (here, once for all), so a browser never shows a cached fragment as the page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.htmx.history_restore_request:
            request.htmx = _WholePage(request)
        response = self.get_response(request)
        patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
        return response
