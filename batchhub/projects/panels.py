"""Panels of the project page that other apps serve.

An app above projects (profiles, …) registers a panel from its AppConfig.ready(); the project page shows one
placeholder per panel the user's roles see, which loads the panel from that app's own URL (htmx, on load) and
keeps a plain link to it when JavaScript is off. So projects shows what higher apps know without importing them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from batchhub.core.roles import ALL_ROLES, user_roles


@dataclass(frozen=True)
class Panel:
    name: str  # unique among panels; the placeholder's and the panel's root element id is `panel-<name>`
    title: str
    url_name: str  # a URL name taking the project's public code as `code`
    order: int = 100  # lower first on the page
    roles: frozenset[str] = frozenset(ALL_ROLES)  # the roles that see it

    @property
    def element_id(self) -> str:
        return f"panel-{self.name}"

    def url(self, project) -> str:
        return reverse(self.url_name, kwargs={"code": project.code})


_panels: dict[str, Panel] = {}


def panel_register(
    *, name: str, title: str, url_name: str, order: int = 100, roles: Iterable[str] = ALL_ROLES
) -> Panel:
    """Add a panel to the project page. Registering the same panel again changes nothing (ready() may run twice);
    another panel under a name already taken, or an unknown role, is a configuration error."""
    panel = Panel(name=name, title=title, url_name=url_name, order=order, roles=frozenset(roles))
    unknown = panel.roles - set(ALL_ROLES)
    if unknown or not panel.roles:
        raise ImproperlyConfigured(f"Panel {name!r}: roles must be some of {ALL_ROLES}, not {sorted(unknown)}")
    taken = _panels.setdefault(name, panel)
    if taken != panel:
        raise ImproperlyConfigured(f"Two panels are named {name!r}: {taken} and {panel}")
    return panel


def panel_unregister(name: str) -> None:
    """For tests that register panels of their own."""
    _panels.pop(name, None)


def panels_for_user(user) -> list[Panel]:
    """The panels the user's roles see, in page order."""
    roles = user_roles(user)
    return sorted((panel for panel in _panels.values() if panel.roles & roles), key=lambda p: (p.order, p.name))


def panel_get_for_user(user, name: str) -> Panel:
    """The panel if the user's roles see it, else 404 (a panel's URL does not tell more than the page)."""
    panel = _panels.get(name)
    if panel is None or not panel.roles & user_roles(user):
        raise Http404("No such panel")
    return panel


def panel_render(
    request: HttpRequest, *, panel: Panel, project, template: str, context: dict | None = None
) -> HttpResponse:
    """The panel alone (the partial `panel` of `template`) for the project page's placeholder, else `template` as a
    full page: it extends projects/panel_page.html, which links back to the project. (Every answer varies with
    HX-Request: core.web.middleware.HtmxHistoryRestoreMiddleware.)"""
    context = {**(context or {}), "panel": panel, "project": project}
    return render(request, f"{template}#panel" if request.htmx else template, context)
