"""Deleting what a profile left everywhere: each app registers how to delete its rows for given profiles.

The purge of inactive profiles and privacy erasure call `profile_data_delete` and reach every app without
importing any. Subjects are named by profile id, by custom id, or both: the app that owns profiles registers the
resolver that completes one side from the other, so every deleter sees both. Deleters run in one transaction, the
ones registered `last` (the profiles themselves) after the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class Subjects:
    project_id: int
    profile_ids: frozenset[int]
    custom_ids: frozenset[str]


Deleter = Callable[[Subjects], int]
Resolver = Callable[[int, frozenset[int], frozenset[str]], Subjects]

_DELETERS: dict[str, tuple[Deleter, bool]] = {}
_RESOLVER: list[Resolver] = []


def deletion_register(name: str, deleter: Deleter, *, last: bool = False) -> None:
    """Add how app rows of given subjects are deleted (or emptied); `deleter(subjects)` returns the rows touched."""
    existing = _DELETERS.get(name)
    if existing is not None and existing != (deleter, last):
        raise ValueError(f"a deleter named {name!r} is registered already")
    _DELETERS[name] = (deleter, last)


def deletion_resolver_register(resolver: Resolver) -> None:
    """The one function that completes subjects (custom ids of the profile ids, and the other way)."""
    if _RESOLVER and _RESOLVER[0] is not resolver:
        raise ValueError("a subjects resolver is registered already")
    _RESOLVER[:] = [resolver]


def deleters() -> list[str]:
    """Names of the deleters, in the order they run."""
    return [name for name, (_, last) in sorted(_DELETERS.items(), key=lambda item: item[1][1])]


def profile_data_delete(project_id: int, *, profile_ids: Iterable[int] = (), custom_ids: Iterable[str] = ()) -> dict:
    """Delete every app's rows of these profiles of a project, in one transaction; rows touched per deleter."""
    subjects = Subjects(project_id, frozenset(profile_ids), frozenset(custom_ids))
    with transaction.atomic():
        if _RESOLVER:  # inside: what is resolved is what is deleted
            subjects = _RESOLVER[0](project_id, subjects.profile_ids, subjects.custom_ids)
        return {name: _DELETERS[name][0](subjects) for name in deleters()}
