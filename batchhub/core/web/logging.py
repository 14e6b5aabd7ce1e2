"""A logging filter that masks anything that looks like a secret before it reaches a handler."""

from __future__ import annotations

import logging
import re

from batchhub.core.secrets.crypto import Secret, mask

_SECRET_PATTERNS = [
    # header and key=value forms: authorization, passwords, keys, tokens
    re.compile(
        r"(?i)((?:x-)?authorization|password|passwd|secret|api[_-]?key|rest[_-]?key|token)"
        r"(\"?\s*[:=]\s*\"?(?:bearer\s+)?)([^\s\"',;]+)"
    ),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return text


# The app-key slot of an API path: a client that swaps its keys puts its REST key there.
_API_KEY_SLOT = re.compile(r"(/[12]\.[0-9]+/)([^/?#\s]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def masked_path(path: str) -> str:
    """A request path as logs and the audit may keep it: the API key slot masked, control characters escaped (a
    %0A in a URL cannot forge a log line)."""
    path = _API_KEY_SLOT.sub(lambda m: m.group(1) + mask(m.group(2)), path)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", path)


def _safe_arg(value):
    if isinstance(value, Secret):
        return str(value)
    return masked_path(value) if isinstance(value, str) else value


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            # string arguments are what a client controls (paths, ids): keys masked, control characters escaped
            record.args = tuple(_safe_arg(a) for a in record.args) if isinstance(record.args, tuple) else record.args
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
