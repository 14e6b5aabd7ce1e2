from __future__ import annotations

from django.conf import settings

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
