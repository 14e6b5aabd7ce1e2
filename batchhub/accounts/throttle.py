"""Login throttling for the dashboard and the admin: failed passwords counted per username and per client
address in fixed windows (the shared cache: Redis in production), refused with the wait time once over.

Measured before: 30 wrong passwords in 6.7 s were all tried.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

from batchhub.core.redis import cache_count

WINDOW_SECONDS = 15 * 60


def _keys(username: str, address: str) -> tuple[str, str]:
    window = int(time.time() // WINDOW_SECONDS)
    return f"login:failed:user:{username.casefold()[:150]}:{window}", f"login:failed:ip:{address}:{window}"


def login_wait_seconds(*, username: str, address: str) -> int:
    """Seconds until this username may try again from this address, 0 if it may now."""
    by_user, by_address = _keys(username, address)
    counts = cache.get_many([by_user, by_address])
    if (
        counts.get(by_user, 0) < settings.LOGIN_FAILURES_PER_USERNAME
        and counts.get(by_address, 0) < settings.LOGIN_FAILURES_PER_ADDRESS
    ):
        return 0
    return max(1, int(WINDOW_SECONDS - time.time() % WINDOW_SECONDS))


def login_failed(sender=None, credentials=None, request=None, **_) -> None:
    """Receiver of `user_login_failed`: one more failure for the username and for the client address."""
    username = (credentials or {}).get("username") or ""
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    for key in _keys(username, address):
        cache_count(key, timeout=WINDOW_SECONDS + 60)


class ThrottledLoginMixin:
    """Refuses a login attempt before the password is checked while its username or address is throttled."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = self.request.META.get("REMOTE_ADDR", "") if self.request is not None else ""
        wait = login_wait_seconds(username=username, address=address)
        if wait:
            minutes = max(1, round(wait / 60))
            raise ValidationError(
                f"Too many failed attempts: wait {minutes} minute{'s' if minutes > 1 else ''} before trying again.",
                code="throttled",
            )
        return super().clean()


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
