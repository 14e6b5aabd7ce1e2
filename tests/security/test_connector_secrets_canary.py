"""Canary secrets of a connector (a destination's password, a storage secret key, a connector key) appear in no page,
log line, audit entry or task argument after the one reveal of a new key; they are encrypted at rest."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection
from django.urls import reverse

from batchhub.connectors.models import ConnectorKey, Destination
from batchhub.core.models import AuditEvent, TaskDelivery
from batchhub.core.web.logging import RedactSecretsFilter
from tests.factories import ConnectorFactory

pytestmark = pytest.mark.portable

CANARY_PASSWORD = "CANARY-PASSWORD-5f2e91"
CANARY_SECRET_KEY = "CANARY-S3-SECRET-7ab3c4d5"


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RedactSecretsFilter())
    yield caplog
    caplog.handler.removeFilter(caplog.handler.filters[-1])


def test_canary_secrets_never_leave_their_encrypted_columns(client, csm, partner_user, project, partner, logged,
                                                            settings, django_capture_on_commit_callbacks):  # fmt: skip
    connector = ConnectorFactory(project=project, partner=partner, name="CRM sync")
    client.force_login(partner_user)
    client.post(reverse("connectors:key_create", args=[connector.code]), {"name": "production"})
    canary_key = ConnectorKey.objects.get().secret.reveal()
    assert canary_key in client.get(reverse("connectors:detail", args=[connector.code])).text  # the one reveal
    create = reverse("connectors:destination_create", args=[connector.code])
    client.post(create, {"kind": "sftp", "name": "SFTP", "host": "127.0.0.1", "port": 2222, "username": "batch",
                         "host_key": "SHA256:" + "B" * 43, "password": CANARY_PASSWORD})  # fmt: skip
    client.post(create, {"kind": "s3", "name": "S3", "bucket": "partner-bucket", "access_key_id": "AKIDEXAMPLE",
                         "secret_access_key": CANARY_SECRET_KEY, "endpoint_url": "https://localhost:9/"})  # fmt: skip
    sftp, s3 = Destination.objects.get(name="SFTP"), Destination.objects.get(name="S3")
    refused = client.post(create, {"kind": "gcs", "name": "GCS", "bucket": "Bad Bucket",
                                   "service_account_json": CANARY_PASSWORD})  # fmt: skip
    assert refused.status_code == 400  # a form sent back with errors does not echo the credential typed in
    pages = [refused.text]
    settings.STORAGE_ALLOW_LOOPBACK = False  # the tests below fail fast, before any connection
    for destination in (sftp, s3):  # tests fail (loopback refused) and show their classified error
        test = reverse("connectors:destination_test", args=[connector.code, destination.code])
        with django_capture_on_commit_callbacks(execute=True):  # the worker's task, in-process
            pages.append(client.post(test, headers={"HX-Request": "true"}).text)
        pages.append(client.get(test, headers={"HX-Request": "true"}).text)
        pages.append(client.get(reverse("connectors:destination_edit", args=[connector.code, destination.code])).text)
    for name in ("connectors:detail", "connectors:edit"):
        pages.append(client.get(reverse(name, args=[connector.code])).text)
    pages += [client.get(reverse("connectors:list")).text, client.get(reverse("dashboard:home")).text]
    client.force_login(csm)
    pages += [
        client.get(reverse("connectors:detail", args=[connector.code])).text,
        client.get(reverse("core:audit_log")).text,
        client.get(reverse("projects:detail", args=[project.code])).text,
    ]
    assert any("address_refused" in page for page in pages)  # the tests really ran
    audit = json.dumps(list(AuditEvent.objects.values("object_repr", "changes")))
    tasks = json.dumps(list(TaskDelivery.objects.values()), default=str)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Destination._meta.db_table}")
        stored = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"SELECT secret FROM {ConnectorKey._meta.db_table}")
        stored += " ".join(row[0] for row in cursor.fetchall())
    for canary in (CANARY_PASSWORD, CANARY_SECRET_KEY, canary_key):
        for page in pages:
            assert canary not in page
        assert canary not in logged.text
        assert canary not in audit
        assert canary not in tasks
        assert canary not in stored  # encrypted at rest
    assert "(secret changed)" in audit
