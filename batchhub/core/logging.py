"""A logging filter that masks anything that looks like a secret before it reaches a handler."""

from __future__ import annotations

import logging
import re

from batchhub.core.crypto import Secret

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


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = (
                tuple(str(a) if isinstance(a, Secret) else a for a in record.args)
                if isinstance(record.args, tuple)
                else record.args
            )
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
