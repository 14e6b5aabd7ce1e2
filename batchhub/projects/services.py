"""Writes on projects, apps, keys and partner grants; every one is audited."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from graphlib import TopologicalSorter

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from batchhub.accounts.models import Partner
from batchhub.core.audit.record import SECRET_CHANGED, audit_record, model_snapshot, snapshot_diff
from batchhub.core.data.db import rows_delete
from batchhub.core.secrets.crypto import Secret
from batchhub.core.services import api_key_revoke, api_key_rotate
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey
from batchhub.projects.queries import company_rest_keys_active
from batchhub.projects.signals import credentials_changed

logger = logging.getLogger(__name__)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _create_audited(*, actor, obj, project: Project, fields: list[str]):
    """Validate, save and audit a new object, recording the listed fields."""
    obj.full_clean()
    obj.save()
    audit_record(
        actor=actor,
        action=f"{obj._meta.model_name}.create",
        obj=obj,
        project=project,
        changes=snapshot_diff({}, model_snapshot(obj, fields)),
    )
    return obj


def customer_for_name(name: str | Customer) -> Customer:
    """The customer company of this name (exact, trimmed), created on first use."""
    if isinstance(name, Customer):
        return name
    name = name.strip()
    if not name:
        raise ValidationError({"customer": "Name the customer company."})
    # one company whatever the case ("Acme" is "acme"); two CSMs creating it at once meet the unique constraint
    for _ in range(2):
        customer = Customer.objects.filter(name__iexact=name).first()
        if customer is not None and customer.deleting_since is not None:
            raise ValidationError({"customer": f"{customer.name} is being deleted; its name is free once it is gone."})
        if customer is not None:
            return customer
        try:
            with transaction.atomic():
                return Customer.objects.create(name=name)
        except IntegrityError:
            continue
    raise ValidationError({"customer": "That customer is being created right now; try again."})


@transaction.atomic
def project_create(*, actor, name: str, customer: str, inactivity_months: int = 13) -> tuple[Project, Secret | None]:
    """Create a project with a fresh project key; returns it with the customer's new company REST key when the
    customer had no usable one yet (to be shown once), else None."""
    company = customer_for_name(customer)
    project = Project(name=name, customer=company, slug=_unique_slug(name), inactivity_months=inactivity_months)
    _create_audited(actor=actor, obj=project, project=project, fields=["name", "customer", "slug", "inactivity_months"])
    secret = None
    if not company_rest_keys_active(company):
        _, secret = rest_key_create(actor=actor, customer=company, project=None, name="Company REST key", at=project)
    return project, secret


@transaction.atomic
def project_update(*, actor, project: Project, name: str, customer: str) -> Project:
    before = model_snapshot(project, ["name", "customer"])
    project.name, project.customer = name, customer_for_name(customer)
    project.full_clean()
    project.save(update_fields=["name", "customer", "updated_at"])
    changes = snapshot_diff(before, model_snapshot(project, ["name", "customer"]))
    if changes:
        audit_record(actor=actor, action="project.update", obj=project, project=project, changes=changes)
    return project


@transaction.atomic
def project_inactivity_shorten(*, actor, project: Project, months: int, deleted_at_next_run: int) -> Project:
    """Shorten the inactivity period from the next purge run on (never at once: until that run starts, the change
    can be cancelled). `deleted_at_next_run` is the number of profiles the CSM confirmed; it is audited."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    refusal = project.inactivity_shorten_refusal(months)
    if refusal:
        raise ValidationError({"inactivity_months": refusal})
    before = project.inactivity_months_in_force
    project.inactivity_months_next = months
    project.save(update_fields=["inactivity_months_next", "updated_at"])
    audit_record(
        actor=actor,
        action="project.inactivity_shorten",
        obj=project,
        project=project,
        changes={
            "inactivity_months": [before, months],
            "takes_effect": [None, "at the next purge run"],
            "profiles_deleted_at_next_run": [None, deleted_at_next_run],
        },
    )
    return project


@transaction.atomic
def project_inactivity_cancel(*, actor, project: Project) -> Project:
    """Drop the shorter period waiting for the next purge run (nothing was deleted with it yet)."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    waiting = project.inactivity_months_next
    if waiting is not None:
        project.inactivity_months_next = None
        project.save(update_fields=["inactivity_months_next", "updated_at"])
        audit_record(
            actor=actor,
            action="project.inactivity_cancel",
            obj=project,
            project=project,
            changes={"inactivity_months": [waiting, project.inactivity_months]},
        )
    return project


def project_inactivity_apply(project_id: int, *, run=None) -> int:
    """The purge run's first step, inside the transaction creating `run`: the waiting shorter period becomes the
    period (audited as done by the system, naming the run). Returns the period to apply."""
    project = Project.objects.select_for_update().get(pk=project_id)
    waiting = project.inactivity_months_next
    if waiting is not None:
        before = project.inactivity_months
        project.inactivity_months, project.inactivity_months_next = waiting, None
        project.save(update_fields=["inactivity_months", "inactivity_months_next", "updated_at"])
        audit_record(
            actor=None,
            action="project.inactivity_applied",
            obj=project,
            project=project,
            changes={"inactivity_months": [before, waiting], **({"purge_run": [None, run.pk]} if run else {})},
        )
    return project.inactivity_months


@transaction.atomic
def app_create(*, actor, project: Project, name: str, platform: str) -> App:
    """Add an app with fresh keys to a project."""
    app = App(project=project, name=name, platform=platform)
    return _create_audited(
        actor=actor,
        obj=app,
        project=project,
        fields=["name", "platform", "live_api_key", "dev_api_key", "sdk_api_key"],
    )


# ---- REST API keys of a customer -------------------------------------------------------------------------


def _key_audit(*, actor, action: str, key: RestApiKey, at: Project | None, changes: dict) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=key,
        object_repr=f"{key.name} of {key.customer.name} ({key.scope_label})",
        project=at or key.project,
        changes=changes,
    )


@transaction.atomic
def rest_key_create(
    *, actor, customer: Customer, project: Project | None, name: str, at: Project | None = None
) -> tuple[RestApiKey, Secret]:
    """A new REST key of `customer`, for all its projects or only `project`; returns it with its secret (shown
    once). `at` is the project page it was made from, for the audit log."""
    if project is not None and project.customer_id != customer.pk:
        raise ValidationError({"project": "A key can only be narrowed to a project of its own customer."})
    key = RestApiKey(
        customer=customer,
        project=project,
        name=name.strip()[:80] or "REST key",
        created_by=actor if actor and actor.is_authenticated else None,
    )
    key.save()
    _key_audit(
        actor=actor,
        action="restapikey.create",
        key=key,
        at=at,
        changes={"name": [None, key.name], "scope": [None, key.scope_label], "secret": [None, SECRET_CHANGED]},
    )
    return key, key.secret


def rest_key_rotate(*, actor, key: RestApiKey, overlap: dt.timedelta, at: Project | None = None) -> Secret:
    """Replace a key with a new one of the same scope; the old one keeps working for `overlap` (zero: revoked
    now). Returns the new secret (shown once)."""
    with transaction.atomic():
        key, new_key = api_key_rotate(actor=actor, key=key, overlap=overlap)
        _key_audit(
            actor=actor,
            action="restapikey.rotate",
            key=key,
            at=at,
            changes={
                "secret": [SECRET_CHANGED, SECRET_CHANGED],
                "old key works until": [None, (key.expires_at or key.revoked_at).isoformat(timespec="minutes")],
            },
        )
    return new_key.secret


def rest_key_revoke(*, actor, key: RestApiKey, at: Project | None = None) -> bool:
    """Stop a key at once; False if it had already stopped."""
    with transaction.atomic():
        revoked = api_key_revoke(key)
        if revoked is not None:
            _key_audit(actor=actor, action="restapikey.revoke", key=revoked, at=at, changes={"revoked": [False, True]})
    return revoked is not None


@transaction.atomic
def project_grant_partner(*, actor, project: Project, partner: Partner) -> tuple[ProjectGrant, bool]:
    """Give a partner access to a project; returns the grant and whether it is new (a second grant is a no-op)."""
    grant, created = ProjectGrant.objects.get_or_create(
        project=project,
        partner=partner,
        defaults={"granted_by": actor if actor and actor.is_authenticated else None},
    )
    if created:
        audit_record(
            actor=actor,
            action="project.grant",
            obj=grant,
            object_repr=str(grant),
            project=project,
            changes={"partner": [None, partner.name]},
        )
    return grant, created


@transaction.atomic
def project_revoke_partner(*, actor, project: Project, partner: Partner) -> bool:
    deleted, _ = ProjectGrant.objects.filter(project=project, partner=partner).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="project.revoke",
            object_type="projects.projectgrant",
            object_code=str(partner.code),
            object_repr=f"{partner} → {project}",
            project=project,
            changes={"partner": [partner.name, None]},
        )
    return bool(deleted)


# ---- Deleting a project or a customer, in the background -----------------------------------------------------
#
# Django's collector loads every related row (to send signals, and for the admin to list them): 38.8 MB of
# confirmation page and 31 s for a project of 23k profiles. Here the tables that hold a project's rows are found
# from the models' foreign keys, and each is emptied in batches, one short transaction and one raw DELETE per
# batch, tables that point at others first, the project row last. No signal is sent; nothing in BatchHub
# listens for these deletes but the API's credential cache, told once at the end.

DELETE_BATCH = 5_000  # rows per transaction: short locks and bounded WAL, while per-batch overhead stays small


class RowsProtected(Exception):
    """Rows outside the deletion point at rows being deleted through a PROTECT or RESTRICT foreign key."""


@dataclass(frozen=True)
class TableRows:
    """How many rows of one table a deletion takes (the confirmation page), or took."""

    label: str  # "profiles.profileevent"
    name: str  # "profile events"
    rows: int


def _foreign_keys_to(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    """Every foreign key pointing at `model`, hidden ones too (`related_name="+"`), as Django's collector finds
    them: `_meta.related_objects` leaves the hidden ones out (app custom data, push and in-app events)."""
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]


@functools.cache
def deletion_plan(
    root: type[models.Model], *, follow: frozenset[models.Field] = frozenset()
) -> dict[type[models.Model], tuple[str, ...]]:
    """The tables whose rows go with a `root` row: {model: ORM lookups from it to the root's pk, shortest first},
    in deletion order (a table that points at another comes before it). Foreign keys are followed where their
    on_delete is CASCADE, and the `follow` ones whatever it is (a customer's projects are PROTECTed)."""
    lookups: dict[type[models.Model], list[str]] = {}
    queue = deque([(root, "", (root,))])
    while queue:
        parent, path, chain = queue.popleft()
        for rel in _foreign_keys_to(parent):
            field, child = rel.field, rel.related_model
            if field.remote_field.on_delete is not models.CASCADE and field not in follow:
                continue
            if child in chain:
                continue  # a table pointing at itself: _delete_rows finds those rows from the batch
            if not field.target_field.primary_key:
                raise NotImplementedError(f"{field} points at a field other than the primary key")
            lookup = f"{field.name}__{path}" if path else field.name
            lookups.setdefault(child, []).append(lookup)
            queue.append((child, lookup, (*chain, child)))
    tables = set(lookups) | {root}
    pointed_at_by: dict[type[models.Model], set[type[models.Model]]] = {model: set() for model in tables}
    for model in tables:
        for field in model._meta.concrete_fields:
            target = field.related_model if field.many_to_one or field.one_to_one else None
            if target in tables and target is not model:
                pointed_at_by[target].add(model)  # the rows pointing go first: no SET NULL update left to do
    order = TopologicalSorter(pointed_at_by).static_order()
    return {
        model: tuple(sorted(lookups[model], key=lambda lookup: (lookup.count("__"), lookup)))
        for model in order
        if model is not root
    }


def deletion_plan_for(obj: Project | Customer) -> dict[type[models.Model], tuple[str, ...]]:
    """What deleting this object takes; for a customer its projects too (PROTECTed, so followed on purpose)."""
    if isinstance(obj, Customer):
        return deletion_plan(Customer, follow=frozenset({Project._meta.get_field("customer")}))
    return deletion_plan(type(obj))


def deletion_rows_count(obj: Project | Customer) -> list[TableRows]:
    """The rows that go with a project or a customer, per table, largest first: one COUNT per table, by its
    shortest way to the object (the confirmation page shows these, never the rows themselves)."""
    tables = []
    for model, lookups in deletion_plan_for(obj).items():
        rows = model._base_manager.filter(**{lookups[0]: obj.pk}).count()
        name = model._meta.verbose_name if rows == 1 else model._meta.verbose_name_plural
        tables.append(TableRows(label=model._meta.label_lower, name=str(name), rows=rows))
    return sorted(tables, key=lambda table: -table.rows)


def _delete_rows(model: type[models.Model], ids: list[int], counts: Counter) -> None:
    """Delete these rows of `model` with one raw DELETE, after doing what on_delete says for rows still pointing
    at them: normally none, the tables pointing at this one were emptied first; a row written meanwhile (an API
    call being applied) goes in the same transaction, or the foreign key check at commit would fail."""
    for rel in _foreign_keys_to(model):
        child, field = rel.related_model, rel.field
        on_delete = field.remote_field.on_delete
        pointing = child._base_manager.filter(**{f"{field.attname}__in": ids})
        if child is model:
            pointing = pointing.exclude(pk__in=ids)
        if on_delete is models.CASCADE:
            if child_ids := list(pointing.values_list("pk", flat=True)):
                _delete_rows(child, child_ids, counts)
        elif on_delete is models.SET_NULL:
            pointing.update(**{field.name: None})
        elif on_delete in (models.PROTECT, models.RESTRICT):
            if pointing.exists():
                raise RowsProtected(f"{child._meta.label} rows point at the {model._meta.label} rows being deleted")
        elif on_delete is not models.DO_NOTHING:  # DO_NOTHING: the database's own constraint decides
            raise NotImplementedError(f"on_delete of {field} is not handled by batched deletes")
    counts[model._meta.label_lower] += rows_delete(model, model._meta.pk.column, ids)


def _progress_add(root: type[Project | Customer], root_id: int, counts: Counter) -> None:
    """Add a batch's counts to the rows deleted so far, kept on the root row (a restarted worker goes on counting)."""
    done = root._base_manager.select_for_update(no_key=True).filter(pk=root_id)
    so_far = done.values_list("deletion_counts", flat=True).first()
    if so_far is not None:
        done.update(deletion_counts=dict(Counter(so_far) + counts))


def _drain(root: type[Project | Customer], root_id: int, *, deadline: float) -> bool:
    """Empty the tables of a root's deletion plan, batch after batch; False if the deadline came first."""
    # A customer's own plan stops at its projects (PROTECT): they go one by one before, each with its audit entry.
    for model, lookups in deletion_plan(root).items():
        for lookup in lookups:
            while True:
                if time.monotonic() > deadline:
                    return False
                with transaction.atomic():
                    ids = list(
                        model._base_manager.filter(**{lookup: root_id})
                        .order_by()
                        .values_list("pk", flat=True)[:DELETE_BATCH]
                    )
                    counts: Counter = Counter()
                    if ids:
                        _delete_rows(model, ids, counts)
                        _progress_add(root, root_id, counts)
                if len(ids) < DELETE_BATCH:
                    break
    return True


def _audited_counts(totals: Counter) -> dict[str, list[int]]:
    """Rows deleted per table, in the audit log's [before, after] form."""
    return {label: [rows, 0] for label, rows in sorted(totals.items(), key=lambda item: -item[1]) if rows}


def _marked(root: type[Project | Customer], root_id: int) -> bool:
    """Whether the row still exists and its deletion was asked for (a task never deletes anything else)."""
    state = list(root._base_manager.filter(pk=root_id).values_list("deleting_since", flat=True))
    if state and state[0] is None:
        logger.warning("%s %s is not marked for deletion: left alone", root._meta.label, root_id)
    return bool(state) and state[0] is not None


def _project_finish(project_id: int) -> None:
    """Delete the project row itself (and any row written since its table was emptied), audited with the counts."""
    with transaction.atomic():
        # FOR UPDATE: no row can be added that points at the project (its foreign key check waits, then fails)
        project = Project.objects.select_for_update().filter(pk=project_id).first()
        if project is None:
            return
        counts: Counter = Counter()
        _delete_rows(Project, [project.pk], counts)
        totals = Counter(project.deletion_counts) + counts
        audit_record(
            actor="system", action="project.delete", obj=project, project=project, changes=_audited_counts(totals)
        )
        if Customer.objects.filter(pk=project.customer_id, deleting_since__isnull=False).exists():
            _progress_add(Customer, project.customer_id, totals)  # the customer's audit entry sums its projects
        # raw deletes send no model signal: every web process forgets the project's keys
        credentials_changed.send(sender=None)


def _customer_finish(customer_id: int) -> bool:
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:
            return True
        if Project.objects.filter(customer_id=customer_id).exists():
            return False  # a project was added meanwhile: the next run deletes it first
        counts: Counter = Counter()
        _delete_rows(Customer, [customer.pk], counts)
        totals = Counter(customer.deletion_counts) + counts
        audit_record(actor="system", action="customer.delete", obj=customer, changes=_audited_counts(totals))
        credentials_changed.send(sender=None)
    return True


@transaction.atomic
def project_delete_request(*, actor, project: Project) -> list[TableRows]:
    """Mark a project as being deleted and audit it; its rows then go in the background (`tasks.project_delete_soon`
    once committed). Returns the rows that go, per table. Asking again changes nothing (the task may be re-queued)."""
    tables = deletion_rows_count(project)
    project = Project.objects.select_for_update().get(pk=project.pk)
    if project.deleting_since is None:
        project.deleting_since = timezone.now()
        project.save(update_fields=["deleting_since", "updated_at"])  # its post_save tells the API's caches
        audit_record(
            actor=actor,
            action="project.delete_request",
            obj=project,
            project=project,
            changes={
                "deleting_since": [None, project.deleting_since.isoformat(timespec="seconds")],
                **{table.label: [table.rows, None] for table in tables if table.rows},
            },
        )
    return tables


@transaction.atomic
def customer_delete_request(*, actor, customer: Customer) -> list[TableRows]:
    """Mark a customer and each of its projects as being deleted, audited; they then go in the background
    (`tasks.customer_delete_soon`). Returns the rows that go, per table (its projects' included)."""
    tables = deletion_rows_count(customer)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    now = timezone.now()
    if customer.deleting_since is None:
        customer.deleting_since = now
        customer.save(update_fields=["deleting_since"])
        audit_record(
            actor=actor,
            action="customer.delete_request",
            obj=customer,
            changes={
                "deleting_since": [None, now.isoformat(timespec="seconds")],
                **{table.label: [table.rows, None] for table in tables if table.rows},
            },
        )
    for project in Project.objects.select_for_update().filter(customer=customer, deleting_since__isnull=True):
        project.deleting_since = now
        project.save(update_fields=["deleting_since", "updated_at"])
        audit_record(
            actor=actor,
            action="project.delete_request",
            obj=project,
            project=project,
            changes={
                "deleting_since": [None, now.isoformat(timespec="seconds")],
                "with customer": [customer.name, None],
            },
        )
    return tables


def project_delete_continue(*, project_id: int, seconds: float) -> bool:
    """Delete a project marked for deletion, batch after batch, for about `seconds`; True once it is gone (or when
    it is not marked: then nothing is deleted)."""
    if not _marked(Project, project_id):
        return True
    deadline = time.monotonic() + seconds
    if not _drain(Project, project_id, deadline=deadline):
        return False
    _project_finish(project_id)
    return True


def customer_delete_continue(*, customer_id: int, seconds: float) -> bool:
    """Delete a customer marked for deletion: each of its projects as `project_delete_continue` does, then its own
    rows and itself, for about `seconds`; True once it is gone (or when it is not marked)."""
    if not _marked(Customer, customer_id):
        return True
    deadline = time.monotonic() + seconds
    for project_id in Project.objects.filter(customer_id=customer_id).order_by("pk").values_list("pk", flat=True):
        # A project added since the request is marked here (customer_for_name refuses a customer being deleted,
        # but an admin edit could still move one in).
        Project.objects.filter(pk=project_id, deleting_since__isnull=True).update(deleting_since=timezone.now())
        if not _drain(Project, project_id, deadline=deadline):
            return False
        _project_finish(project_id)
    if not _drain(Customer, customer_id, deadline=deadline):
        return False
    return _customer_finish(customer_id)
