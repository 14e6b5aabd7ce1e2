"""Reads of accounts: users and partners."""

from __future__ import annotations

from batchhub.accounts.models import Partner


def partners_count() -> int:
    """Every partner organisation (staff figures: partners are not scoped to a project)."""
    return Partner.objects.count()
