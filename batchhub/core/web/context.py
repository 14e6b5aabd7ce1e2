"""The request in progress (actor, address), for audit records written deep in services."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str = ""


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)
