"""The identifiers that name a profile: a custom user id, an installation id.

Neutral rules, for every way an identifier arrives (the REST API today; imports and privacy requests next): each
check returns the identifier or raises `IdentifierError` with a message that names `where` and what is expected;
the caller turns it into its own kind of error. No advertising-id rule yet: nothing accepts one so far.
"""

from __future__ import annotations

from typing import Any

from batchhub.core.web.text import text_fault

MAX_CUSTOM_ID = 512
MAX_INSTALLATION_ID = 64


class IdentifierError(ValueError):
    """An identifier that cannot name a profile; `message` says where and what is expected."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _storable(value: str, where: str) -> str:
    fault = text_fault(value)
    if fault:
        raise IdentifierError(f"{where} contains {fault}.")
    return value


def custom_id_check(value: Any, where: str) -> str:
    """A custom user id: a string of 1 to `MAX_CUSTOM_ID` characters, not only white space, storable."""
    if not isinstance(value, str) or not value.strip():
        raise IdentifierError(f"{where} must be a non-empty string (the custom user id).")
    if len(value) > MAX_CUSTOM_ID:
        raise IdentifierError(f"{where} is longer than {MAX_CUSTOM_ID} characters.")
    return _storable(value, where)


def installation_id_check(value: Any, where: str) -> str:
    """An installation id: a string of 1 to `MAX_INSTALLATION_ID` characters, not only white space, storable."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_INSTALLATION_ID:
        raise IdentifierError(f"{where} is 1 to {MAX_INSTALLATION_ID} characters.")
    return _storable(value, where)
