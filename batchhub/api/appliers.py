"""What applies each kind of accepted call: domain apps register an applier per kind from their AppConfig.ready().

An applier runs inside the claim transaction, with the call row locked, and returns the counts shown on the call's
page. It must be idempotent with the call's status (the status commits with the data) and raise to fail the call.
The pipeline refuses to store a call of a kind nobody registered: nothing answered 2xx can find no applier later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchhub.api.models import ApiCall


@dataclass(frozen=True)
class Applier:
    kind: str  # "<app label>.<what>", e.g. "profiles.events"
    label: str
    apply: Callable[[ApiCall], dict]


_APPLIERS: dict[str, Applier] = {}
_ALIASES: dict[str, str] = {}


def applier_register(
    kind: str, apply: Callable[[ApiCall], dict], *, label: str = "", aliases: tuple[str, ...] = ()
) -> None:
    """Register how calls of `kind` are applied; registering a kind twice with another function is a bug.

    `aliases` are older names of the kind that stored calls may still carry (web processes of the previous release
    during a rolling deploy): they are applied by this applier, never offered as choices."""
    if "." not in kind or len(kind) > 40:
        raise ValueError(f"an applier kind is '<app label>.<what>', at most 40 characters: {kind!r}")
    existing = _APPLIERS.get(kind)
    if existing is not None and existing.apply is not apply:
        raise ValueError(f"an applier for {kind!r} is registered already")
    _APPLIERS[kind] = Applier(kind, label or kind, apply)
    for alias in aliases:
        _ALIASES[alias] = kind


def applier_unregister(kind: str) -> None:
    """For tests that register a kind of their own."""
    _APPLIERS.pop(kind, None)  # an alias of it finds nothing until it is registered again


def applier_for(kind: str) -> Applier:
    try:
        return _APPLIERS[_ALIASES.get(kind, kind)]
    except KeyError:
        raise LookupError(f"no applier registered for API call kind {kind!r}") from None


def kind_choices() -> list[tuple[str, str]]:
    """`ApiCall.kind` choices: the kinds registered (a callable, so the model needs no domain import)."""
    return [("", "nothing to apply"), *sorted((a.kind, a.label) for a in _APPLIERS.values())]
