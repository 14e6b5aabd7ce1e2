"""Encryption of secrets at rest (Fernet, rotation-ready through MultiFernet) and the Secret wrapper."""

from __future__ import annotations

import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # the message never includes the token
        raise ValueError("an encrypted value could not be decrypted with the configured keys") from exc


class Secret:
    """A decrypted secret that shows itself masked everywhere unless asked with `reveal()`.

    Templates, logs, reprs and f-strings get the mask; only code that needs the value calls reveal().
    """

    __slots__ = ("_token", "_value")

    def __init__(self, value: str) -> None:
        self._value: str | None = value
        self._token: str | None = None

    @classmethod
    def from_token(cls, token: str) -> Secret:
        """A secret read from storage: decrypted only when first used (most page loads never use it)."""
        secret = cls.__new__(cls)
        secret._value, secret._token = None, token
        return secret

    def reveal(self) -> str:
        if self._value is None:
            self._value = decrypt(self._token)
        return self._value

    @property
    def masked(self) -> str:
        return mask(self.reveal())

    def matches(self, candidate: str | None) -> bool:
        """Constant-time comparison with a presented value."""
        if not candidate:
            return False
        return hmac.compare_digest(self.reveal().encode(), candidate.encode("utf-8", "surrogatepass"))

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.reveal())

    def __len__(self) -> int:
        return len(self.reveal())


def mask(value: str, visible: int = 4) -> str:
    if len(value) <= visible * 2:
        return "•" * 8
    return "•" * 8 + value[-visible:]
