"""Show a new secret exactly once: stashed encrypted in the session, popped by the next page view."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from batchhub.core.secrets.crypto import Secret, decrypt, encrypt

_KEY = "batchhub.reveal_once"


def reveal_once_stash(request: HttpRequest, *, owner: str, label: str, secret: Secret) -> None:
    """Keep a new secret for the next view of its `owner`'s page (and only that page)."""
    request.session[_KEY] = {"owner": owner, "label": label, "token": encrypt(secret.reveal())}


def reveal_once_pop(request: HttpRequest, *, owner: str) -> dict | None:
    stashed = request.session.get(_KEY)
    if not stashed or stashed.get("owner") != owner:
        return None
    del request.session[_KEY]
    return {"label": stashed["label"], "value": decrypt(stashed["token"])}


def no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    return response
