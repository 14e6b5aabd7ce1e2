"""Screens of connectors: lists, the connector page, its keys, destinations and sources (with their Test)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batchhub.connectors import services
from batchhub.connectors.exporting import (
    BACKFILL_DAYS,
    PAUSED_CONNECTOR,
    BackfillRefused,
    backfill_detail,
    backfill_label,
    export_backfill_request,
    export_config_resume,
    export_run_ensure,
    exports_connector_resumed,
    utc_yesterday,
)
from batchhub.connectors.forms import (
    DESTINATION_KINDS,
    SOURCE_KINDS,
    BackfillForm,
    ConnectorCreateForm,
    ConnectorForm,
    ExportConfigForm,
    KeyForm,
    PauseForm,
    StorageForm,
)
from batchhub.connectors.models import ExportRun
from batchhub.connectors.queries import (
    connector_activity,
    connector_can_change,
    connector_can_see_details,
    connector_get_for_user,
    connector_key_get,
    connector_keys,
    connector_list_rows,
    destination_get,
    export_configs_of,
    projects_for_new_connector,
    source_get,
)
from batchhub.connectors.tasks import export_backfill_run, export_run, storage_test_soon
from batchhub.core.jobs.runs import run_progress_render
from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import PARTNER, has_role
from batchhub.core.secrets.reveal import no_store, reveal_once_pop, reveal_once_stash
from batchhub.projects.forms import RestKeyRotateForm
from batchhub.projects.panels import panel_get_for_user, panel_render
from batchhub.projects.queries import project_get_for_user


def _connector_for_change(request: HttpRequest, code):
    connector = connector_get_for_user(request.user, code)
    if not connector_can_change(request.user, connector):
        raise Http404("No such connector")  # what others may not change, they are not told exists as changeable
    return connector


@login_required
@require_GET
def connector_list(request: HttpRequest) -> HttpResponse:
    """Every connector the user sees, by project then partner; staff filter them by partner and project."""
    rows = connector_list_rows(request.user)
    partner, project = _code_or_blank(request.GET.get("partner")), _code_or_blank(request.GET.get("project"))
    connectors = rows
    if partner:
        connectors = connectors.filter(partner__code=partner)
    if project:
        connectors = connectors.filter(project__code=project)
    context = {
        "connectors": list(connectors[:500]),
        "can_create": has_role(request.user, PARTNER),
        "partners": sorted({(name, str(code)) for name, code in rows.values_list("partner__name", "partner__code")}),
        "projects": sorted({(name, str(code)) for name, code in rows.values_list("project__name", "project__code")}),
        "partner": partner,
        "project": project,
    }
    return render(request, "connectors/connector_list.html", context)


def _code_or_blank(value: str | None) -> str:
    try:
        return str(uuid.UUID(value or ""))
    except ValueError:
        return ""


@login_required
@require_GET
def project_panel(request: HttpRequest, code) -> HttpResponse:
    """The project page's "Connectors" panel: the project's connectors the user may see."""
    panel = panel_get_for_user(request.user, "connectors")
    project = project_get_for_user(request.user, code)
    context = {
        "connectors": list(connector_list_rows(request.user, project=project)),
        "can_create": has_role(request.user, PARTNER),
    }
    return panel_render(
        request, panel=panel, project=project, template="connectors/project_panel.html", context=context
    )


@login_required
@require_http_methods(["GET", "POST"])
def connector_create(request: HttpRequest) -> HttpResponse:
    projects = list(projects_for_new_connector(request.user))
    if not has_role(request.user, PARTNER):
        raise Http404("No such page")
    form = ConnectorCreateForm(
        request.POST or None, projects=projects, initial={"project": request.GET.get("project", "")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            connector = services.connector_create(
                actor=request.user,
                partner=request.user.partner,
                project=data["project"],
                kind=data["kind"],
                name=data["name"],
                features=data["features"],
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        except PermissionDenied as exc:
            form.add_error("project", str(exc))
        else:
            messages.success(request, f"Connector {connector.name} created. Give it an API key below.")
            return redirect("connectors:detail", code=connector.code)
    status = 400 if request.method == "POST" else 200
    return render(request, "connectors/connector_form.html", {"form": form, "projects": projects}, status=status)


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
@require_GET
def connector_detail(request: HttpRequest, code) -> HttpResponse:
    return _detail_response(request, connector_get_for_user(request.user, code))


def _detail_response(request: HttpRequest, connector, *, pause_form: PauseForm | None = None) -> HttpResponse:
    """The connector page; with a refused pause form, that form's errors and a 400."""
    details = connector_can_see_details(request.user, connector)
    context = {
        "connector": connector,
        "can_change": connector_can_change(request.user, connector),
        "can_pause": connector_can_see_details(request.user, connector),
        "details": details,
        "revealed": reveal_once_pop(request, owner=str(connector.code)),
    }
    if details:
        context.update(
            keys=connector_keys(connector),
            key_form=KeyForm(),
            rotate_form=RestKeyRotateForm(auto_id=False),
            pause_form=pause_form or PauseForm(),
            api_activity=connector_activity(connector),
            destinations=list(connector.destinations.order_by("name")),
            export_configs=export_configs_of(connector),
            sources=list(connector.sources.order_by("name")),
        )
    response = render(request, "connectors/connector_detail.html", context, status=400 if pause_form else 200)
    return no_store(response)


@login_required
@require_http_methods(["GET", "POST"])
def connector_edit(request: HttpRequest, code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    initial = {"name": connector.name, "kind": connector.kind, "features": connector.features}
    form = ConnectorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.connector_update(actor=request.user, connector=connector, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Connector saved.")
            return redirect("connectors:detail", code=connector.code)
    status = 400 if request.method == "POST" else 200
    return render(request, "connectors/connector_form.html", {"form": form, "connector": connector}, status=status)


@login_required
@require_POST
def connector_pause(request: HttpRequest, code) -> HttpResponse:
    connector = connector_get_for_user(request.user, code)
    if not connector_can_see_details(request.user, connector):
        raise Http404("No such connector")
    form = PauseForm(request.POST)
    if not form.is_valid():
        return _detail_response(request, connector, pause_form=form)
    if services.connector_pause(actor=request.user, connector=connector, reason=form.cleaned_data["reason"]):
        messages.warning(request, f"{connector.name} is paused: its API keys are refused and its jobs wait.")
    return redirect("connectors:detail", code=connector.code)


@login_required
@require_POST
def connector_resume(request: HttpRequest, code) -> HttpResponse:
    connector = connector_get_for_user(request.user, code)
    if not connector_can_see_details(request.user, connector):
        raise Http404("No such connector")
    if services.connector_resume(actor=request.user, connector=connector):
        runs, backfills = exports_connector_resumed(connector, actor=request.user)
        for run_id in runs:
            enqueue_on_commit(export_run, run_id)
        for backfill_id in backfills:
            enqueue_on_commit(export_backfill_run, backfill_id)
        missed = "; the exports it missed are queued, in order" if runs or backfills else ""
        messages.success(request, f"{connector.name} is running again{missed}.")
    return redirect("connectors:detail", code=connector.code)


@login_required
@require_http_methods(["GET", "POST"])
def connector_delete(request: HttpRequest, code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    if request.method == "POST":
        project = connector.project
        services.connector_delete(actor=request.user, connector=connector)
        messages.success(request, f"Connector {connector.name} deleted: its keys no longer work.")
        return redirect("projects:detail", code=project.code)
    return render(request, "connectors/connector_confirm_delete.html", {"connector": connector})


# ---- keys ---------------------------------------------------------------------------------------------------


@login_required
@require_POST
def key_create(request: HttpRequest, code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    form = KeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the key a name (up to 80 characters).")
        return redirect("connectors:detail", code=connector.code)
    key, secret = services.connector_key_create(actor=request.user, connector=connector, name=form.cleaned_data["name"])
    reveal_once_stash(
        request, owner=str(connector.code), label=f"API key “{key.name}” of {connector.name}", secret=secret
    )
    messages.success(request, f"API key “{key.name}” created.")
    return redirect("connectors:detail", code=connector.code)


@login_required
@require_POST
def key_rotate(request: HttpRequest, code, key_code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    key = connector_key_get(connector, key_code)
    form = RestKeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
        return redirect("connectors:detail", code=connector.code)
    hours = form.cleaned_data["overlap_hours"]
    try:
        secret = services.connector_key_rotate(actor=request.user, key=key, overlap=dt.timedelta(hours=hours))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("connectors:detail", code=connector.code)
    reveal_once_stash(request, owner=str(connector.code), label=f"New API key “{key.name}”", secret=secret)
    if hours:
        messages.warning(request, f"“{key.name}” was rotated: the old key keeps working for {hours} h.")
    else:
        messages.warning(request, f"“{key.name}” was rotated: the old key no longer works.")
    return redirect("connectors:detail", code=connector.code)


@login_required
@require_POST
def key_revoke(request: HttpRequest, code, key_code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    key = connector_key_get(connector, key_code)
    if services.connector_key_revoke(actor=request.user, key=key):
        messages.warning(request, f"“{key.name}” was revoked: calls with it fail from now on.")
    return redirect("connectors:detail", code=connector.code)


# ---- destinations and sources --------------------------------------------------------------------------------


def _storage_get(connector, direction: str, storage_code):
    return (destination_get if direction == "destination" else source_get)(connector, storage_code)


def _kinds(direction: str) -> list[tuple[str, str]]:
    return DESTINATION_KINDS if direction == "destination" else SOURCE_KINDS


@login_required
@require_http_methods(["GET", "POST"])
def storage_edit(request: HttpRequest, code, direction: str, storage_code=None) -> HttpResponse:
    """Create (no code) or change a destination or source. The kind comes from the query (a new one) or the stored
    row; choosing another kind reloads the form with that kind's fields (htmx, or a plain GET)."""
    connector = _connector_for_change(request, code)
    location = _storage_get(connector, direction, storage_code) if storage_code else None
    kinds = dict(_kinds(direction))
    kind = request.POST.get("kind") or request.GET.get("kind") or (location.kind if location else "local")
    refused_kind = request.method == "POST" and kind not in kinds
    if kind not in kinds:
        kind = "local"  # the chooser shows the local folder's fields; a POST of an unknown kind saves nothing
    form = StorageForm(
        request.POST if request.method == "POST" else None, kind=kind, direction=direction, location=location
    )
    if refused_kind:
        form.is_valid()
        form.add_error(None, "Choose one of the storage kinds offered.")
    elif request.method == "POST" and form.is_valid():
        plain, secrets, cleared = form.settings_and_secrets()
        try:
            location = services.storage_save(
                actor=request.user,
                connector=connector,
                direction=direction,
                location=location,
                name=form.cleaned_data["name"],
                kind=kind,
                location_settings=plain,
                secrets=secrets,
                pattern=form.cleaned_data.get("pattern"),
                cleared=cleared,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"{direction.capitalize()} {location.name} saved. Test it below.")
            return redirect(f"connectors:{direction}_edit", code=connector.code, storage_code=location.code)
    context = {
        "connector": connector,
        "direction": direction,
        "location": location,
        "form": form,
        "kind": kind,
        "kinds": kinds.items(),
        "local_base": f"{'exports' if direction == 'destination' else 'imports'}/{connector.partner.slug}",
    }
    template = "connectors/storage_form.html#storage-fields" if request.htmx and request.method == "GET" else None
    response = render(request, template or "connectors/storage_form.html", context)
    if request.method == "POST":
        response.status_code = 400
    return no_store(response)


@login_required
@require_http_methods(["GET", "POST"])
def storage_test(request: HttpRequest, code, direction: str, storage_code) -> HttpResponse:
    """POST asks for a Test (run by a worker); htmx then polls this URL with GET for the result, which shows the
    classified error. Without JavaScript, both come back to the form's page, which shows the Test's state."""
    connector = _connector_for_change(request, code)
    location = _storage_get(connector, direction, storage_code)
    if request.method == "POST":
        requested_at = services.storage_test_request(actor=request.user, location=location)
        if requested_at is not None:
            storage_test_soon(direction, location.pk, requested_at)
        elif not request.htmx:
            messages.info(request, "A test of this location is still running: its result shows below.")
        location.refresh_from_db()
    if not request.htmx:
        return redirect(f"connectors:{direction}_edit", code=connector.code, storage_code=location.code)
    response = render(
        request, "connectors/_storage_test_result.html", {"direction": direction, "location": location,
                                                          "connector": connector}
    )  # fmt: skip
    return no_store(response)


@login_required
@require_POST
def storage_delete(request: HttpRequest, code, direction: str, storage_code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    location = _storage_get(connector, direction, storage_code)
    try:
        services.storage_delete(actor=request.user, connector=connector, location=location)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"connectors:{direction}_edit", code=connector.code, storage_code=location.code)
    messages.success(request, f"{direction.capitalize()} {location.name} deleted.")
    return redirect("connectors:detail", code=connector.code)


# ---- export configs ------------------------------------------------------------------------------------------------


def _export_config_get(connector, export_code):
    return get_by_code_or_404(connector.export_configs.select_related("app", "destination"), export_code, what="export")


def _export_for_view(request: HttpRequest, code, export_code):
    """The connector and export config the user may look at: the partner's users and CSMs (who change nothing)."""
    connector = connector_get_for_user(request.user, code)
    if not connector_can_see_details(request.user, connector):
        raise Http404("No such export")
    return connector, _export_config_get(connector, export_code)


def _export_run_get(config, day: dt.date) -> ExportRun:
    run = config.runs.filter(day=day).first()
    if run is None:
        raise Http404("No run of that day")
    return run


def _export_page(request: HttpRequest, connector, config, *, form=None, backfill_form=None, status=200):
    can_change = connector_can_change(request.user, connector)
    yesterday = utc_yesterday()
    context = {"connector": connector, "config": config, "can_change": can_change, "yesterday": yesterday,
               "destinations": list(connector.destinations.order_by("name"))}  # fmt: skip
    if form is None and can_change:
        form = _export_config_form(connector, config)
    context["form"] = form
    if config is not None:
        runs = list(config.runs.order_by("-day")[:30])
        context.update(
            runs=runs,
            active_runs=[run for run in runs if not run.is_finished],
            backfill=config.backfills.order_by("-created_at", "-id").first(),
            backfill_form=backfill_form or BackfillForm(initial={"last_day": yesterday}),
            backfill_days=BACKFILL_DAYS,
            earliest=yesterday - dt.timedelta(days=BACKFILL_DAYS - 1),
            chart_runs=list(config.runs.filter(day__gt=yesterday - dt.timedelta(days=30))),
        )
    return no_store(render(request, "connectors/export_form.html", context, status=status))


def _export_config_form(connector, config, data=None) -> ExportConfigForm:
    apps = list(connector.project.apps.order_by("platform", "name"))
    destinations = list(connector.destinations.order_by("name"))
    initial = {"enabled": True}
    if config is not None:
        initial = {"app": str(config.app.code), "kind": config.kind, "identifier": config.identifier,
                   "destination": str(config.destination.code), "enabled": config.enabled}  # fmt: skip
    return ExportConfigForm(data, apps=apps, destinations=destinations, initial=initial)


@login_required
@require_http_methods(["GET", "POST"])
def export_config_edit(request: HttpRequest, code, export_code=None) -> HttpResponse:
    """Create (no code) or change a daily export. Its page shows its state, a chart and the history of its runs,
    "Run now" and "Backfill" with their progress; a CSM sees it without the forms."""
    if request.method == "GET" and export_code is not None:
        connector, config = _export_for_view(request, code, export_code)
        return _export_page(request, connector, config)
    connector = _connector_for_change(request, code)
    config = _export_config_get(connector, export_code) if export_code else None
    if request.method == "GET":
        return _export_page(request, connector, config)
    form = _export_config_form(connector, config, request.POST)
    was_paused = bool(config and config.paused_reason)
    if form.is_valid():
        try:
            config = services.export_config_save(actor=request.user, connector=connector, config=config,
                                                 **form.cleaned_data)  # fmt: skip
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Daily export saved.")
            if was_paused and config.enabled:  # Resume: every missed day again, in order
                backfill = export_config_resume(config, actor=request.user)
                if backfill is not None:
                    enqueue_on_commit(export_backfill_run, backfill.pk)
                    days = backfill.rows_total
                    messages.info(request, f"Resumed: {days} missed day{pluralize(days)} queued, in order.")
            return redirect("connectors:export_edit", code=connector.code, export_code=config.code)
    return _export_page(request, connector, config, form=form, status=400)


@login_required
@require_POST
def export_config_delete(request: HttpRequest, code, export_code) -> HttpResponse:
    connector = _connector_for_change(request, code)
    config = _export_config_get(connector, export_code)
    services.export_config_delete(actor=request.user, connector=connector, config=config)
    messages.success(request, "Daily export deleted; the files already written stay.")
    return redirect("connectors:detail", code=connector.code)


@login_required
@require_POST
def export_run_now(request: HttpRequest, code, export_code) -> HttpResponse:
    """Export yesterday (UTC) now: again if it was done already."""
    connector = _connector_for_change(request, code)
    config = _export_config_get(connector, export_code)
    if connector.is_paused:
        messages.error(request, PAUSED_CONNECTOR)
        return _export_page(request, connector, config, status=400)
    day = utc_yesterday()
    run, execute = export_run_ensure(config, day, forced=True)
    if execute:
        enqueue_on_commit(export_run, run.pk)
        messages.success(request, f"The export of {day:%Y-%m-%d} is queued.")
    else:
        messages.info(request, f"The export of {day:%Y-%m-%d} is already running.")
    return redirect("connectors:export_edit", code=connector.code, export_code=config.code)


@login_required
@require_POST
def export_backfill(request: HttpRequest, code, export_code) -> HttpResponse:
    """Export a range of past days in order, in a worker; the page shows its progress."""
    connector = _connector_for_change(request, code)
    config = _export_config_get(connector, export_code)
    form = BackfillForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            backfill = export_backfill_request(config, data["first_day"], data["last_day"], force=data["force"],
                                               actor=request.user)  # fmt: skip
        except BackfillRefused as refused:
            form.add_error(None, str(refused))
        else:
            enqueue_on_commit(export_backfill_run, backfill.pk)
            days = backfill.rows_total
            messages.success(request, f"Backfill of {days} day{pluralize(days)} queued: they are exported in order.")
            return redirect("connectors:export_edit", code=connector.code, export_code=config.code)
    return _export_page(request, connector, config, backfill_form=form, status=400)


@login_required
@require_GET
def export_backfill_progress(request: HttpRequest, code, export_code, backfill_code) -> HttpResponse:
    connector, config = _export_for_view(request, code, export_code)
    backfill = get_by_code_or_404(config.backfills.all(), backfill_code, what="backfill")
    url = reverse("connectors:export_backfill_progress", args=[connector.code, config.code, backfill.code])
    return no_store(run_progress_render(request, backfill, url=url, label=backfill_label(backfill), unit="days",
                                        detail=backfill_detail(backfill)))  # fmt: skip


@login_required
@require_GET
def export_run_detail(request: HttpRequest, code, export_code, day: dt.date) -> HttpResponse:
    """One day's run: its file, manifest, attempts and classified error."""
    connector, config = _export_for_view(request, code, export_code)
    run = _export_run_get(config, day)
    context = {"connector": connector, "config": config, "run": run,
               "manifest": json.dumps(run.manifest, indent=2) if run.manifest else ""}  # fmt: skip
    return no_store(render(request, "connectors/export_run.html", context))


@login_required
@require_GET
def export_run_progress(request: HttpRequest, code, export_code, day: dt.date) -> HttpResponse:
    connector, config = _export_for_view(request, code, export_code)
    run = _export_run_get(config, day)
    url = reverse("connectors:export_run_progress", args=[connector.code, config.code, day])
    return no_store(run_progress_render(request, run, url=url, label=f"Export of {day:%Y-%m-%d}"))
