"""The common actors of every test: a project with apps, its CSM, partner, outsider and privacy admin."""

from __future__ import annotations

import os

import pytest

from batchhub.core.roles import CSM, PRIVACY_ADMIN
from tests.core.storage.servers_cloud import *  # noqa: F403 - real storage servers, once per session, for every test
from tests.core.storage.servers_net import *  # noqa: F403
from tests.factories import PASSWORD, AppFactory, GrantFactory, PartnerFactory, ProjectFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


@pytest.fixture(autouse=True)
def _eager_celery(request, settings):
    """Unit tests run tasks in-process; tests marked `worker` use a real worker on Redis instead."""
    from batchhub.celery import app

    eager = "worker" not in request.keywords
    # The names as the app reads them from Django's settings (CELERY_ namespace): with a namespace, Celery 5.6
    # lets those win over an unprefixed `task_always_eager` set later.
    previous = app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES
    app.conf.CELERY_TASK_ALWAYS_EAGER = eager
    app.conf.CELERY_TASK_EAGER_PROPAGATES = eager
    assert app.conf.task_always_eager is eager
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES = previous


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def project(db):
    project = ProjectFactory(name="Acme Retail", customer="Acme Corp")
    AppFactory(project=project, name="AcmeShop", platform="ios")
    AppFactory(project=project, name="AcmeShop", platform="android")
    return project


@pytest.fixture
def other_project(db):
    project = ProjectFactory(name="Globex Media", customer="Globex")
    AppFactory(project=project, name="GlobexNews", platform="web")
    return project


@pytest.fixture
def partner(db, project):
    partner = PartnerFactory(name="Pushwave")
    GrantFactory(project=project, partner=partner)
    return partner


@pytest.fixture
def csm(db):
    return UserFactory(username="csm", role=CSM)


@pytest.fixture
def privacy_admin(db):
    return UserFactory(username="privacy", role=PRIVACY_ADMIN)


@pytest.fixture
def partner_user(db, partner):
    return UserFactory.partner_user(partner=partner, username="pushwave")


@pytest.fixture
def outsider(db, other_project):
    """A partner user whose partner is granted another project only."""
    partner = PartnerFactory(name="Attribly")
    GrantFactory(project=other_project, partner=partner)
    return UserFactory.partner_user(partner=partner, username="attribly")


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def database_down(monkeypatch):
    """(down, back): PostgreSQL made unreachable (the connection dropped, its settings pointing at a port nobody
    listens on), then reachable again."""
    import socket

    from django.db import connections

    database = connections["default"]
    if database.vendor != "postgresql":
        pytest.skip("the outage is a PostgreSQL port that refuses connections")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]

    def down():
        database.close()
        monkeypatch.setitem(database.settings_dict, "HOST", "127.0.0.1")
        monkeypatch.setitem(database.settings_dict, "PORT", dead_port)

    def back():
        monkeypatch.undo()
        database.close()

    return down, back
