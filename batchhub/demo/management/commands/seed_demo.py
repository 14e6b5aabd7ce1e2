"""python manage.py seed_demo [--profiles N] [--seed S]: create or top up the demo world."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from batchhub.demo.services import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_PROFILES,
    DEFAULT_SEED,
    DemoSeedError,
    demo_world_seed,
)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Create the demo world (projects, apps, partners, logins, campaigns) and top its projects up to "
        "--profiles profiles with events, installations and last week's push/in-app events. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--profiles",
            type=_non_negative,
            default=DEFAULT_PROFILES,
            help=f"profiles in all, 60%%/40%% between the two projects (default {DEFAULT_PROFILES})",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"random seed; the same seed gives the same data (default {DEFAULT_SEED})",
        )
        parser.add_argument(
            "--chunk-size",
            type=_positive,
            default=DEFAULT_CHUNK_SIZE,
            help="profiles per transaction (default %(default)s)",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="seed even with BATCHHUB_ENV=production (the demo passwords are public)",
        )

    def handle(self, *args, profiles: int, seed: int, chunk_size: int, allow_production: bool, **options) -> None:
        bar = tqdm(unit=" profiles", unit_scale=True, file=sys.stderr, disable=None, dynamic_ncols=True)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = demo_world_seed(
                profiles=profiles,
                seed=seed,
                chunk_size=chunk_size,
                progress=progress,
                allow_production=allow_production,
            )
        except DemoSeedError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()

        created = ", ".join(f"{n} {what}" for what, n in report.created.items() if n) or "nothing new"
        added = ", ".join(f"{n:,} {what}" for what, n in report.added.items() if n) or "nothing (already there)"
        self.stdout.write(f"Demo world: created {created}.")
        self.stdout.write(f"Added {added}.")
        for name, count in report.profiles.items():
            self.stdout.write(f"  {name}: {count:,} profiles")
        self.stdout.write("Totals: " + ", ".join(f"{n:,} {what}" for what, n in report.totals.items()))
        self.stdout.write(self.style.SUCCESS(f"Done in {report.seconds:.1f} s. Logins: manage.py demo_credentials"))
