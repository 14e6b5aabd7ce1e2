"""Deleting what a profile left everywhere: each app registers how to delete its rows for given profiles.

The purge of inactive profiles and privacy erasure call `profile_data_delete` and reach every app without importing
any. A deleter registered `purge=False` runs on erasure only: the purge deletes the omnichannel profile and leaves
app-centric data (and what is not profile data, such as stored API calls). Subjects are named by profile id, by
custom id, or both: the app that owns profiles registers the resolver that completes one side from the other, so
every deleter sees both. Deleters run in one transaction, the ones registered `last` (the profiles themselves) after
the others.
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


@dataclass(frozen=True)
class _Deleter:
    delete: Deleter
    last: bool
    purge: bool


_DELETERS: dict[str, _Deleter] = {}
_RESOLVER: list[Resolver] = []


def deletion_register(name: str, deleter: Deleter, *, last: bool = False, purge: bool = True) -> None:
    """Add how app rows of given subjects are deleted (or emptied); `deleter(subjects)` returns the rows touched.
    `purge=False`: only an erasure runs it, not the inactive-profile purge."""
    entry = _Deleter(deleter, last, purge)
    if _DELETERS.setdefault(name, entry) != entry:
        raise ValueError(f"a deleter named {name!r} is registered already")


def deletion_resolver_register(resolver: Resolver) -> None:
    """The one function that completes subjects (custom ids of the profile ids, and the other way)."""
    if _RESOLVER and _RESOLVER[0] is not resolver:
        raise ValueError("a subjects resolver is registered already")
    _RESOLVER[:] = [resolver]


def deleters(*, purge: bool = False) -> list[str]:
    """Names of the deleters in the order they run: all of them (erasure), or the purge's."""
    ordered = sorted(_DELETERS.items(), key=lambda item: item[1].last)
    return [name for name, entry in ordered if entry.purge or not purge]


def profile_data_delete(
    project_id: int,
    *,
    profile_ids: Iterable[int] = (),
    custom_ids: Iterable[str] = (),
    purge: bool = False,
    resolved: bool = False,
) -> dict:
    """Delete every app's rows of these profiles of a project, in one transaction; rows touched per deleter.
    `purge=True`: the inactive-profile purge's deleters only (app-centric data stays). `resolved=True`: the caller
    names both sides of every profile, read from the profiles it has locked (the resolver's query is skipped)."""
    subjects = Subjects(project_id, frozenset(profile_ids), frozenset(custom_ids))
    with transaction.atomic():
        if _RESOLVER and not resolved:  # inside: what is resolved is what is deleted
            subjects = _RESOLVER[0](project_id, subjects.profile_ids, subjects.custom_ids)
        return {name: _DELETERS[name].delete(subjects) for name in deleters(purge=purge)}
