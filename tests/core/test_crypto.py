from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from batchhub.core.secrets import crypto
from batchhub.core.secrets.crypto import Secret
from tests.factories import RestApiKeyFactory

pytestmark = pytest.mark.portable


def test_rest_keys_are_encrypted_at_rest(db):
    rest_key = RestApiKeyFactory()
    key = rest_key.secret.reveal()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, digest FROM projects_restapikey WHERE id = %s", [rest_key.pk])
        stored, digest = cursor.fetchone()
    assert key not in stored and key not in digest
    assert crypto.decrypt(stored) == key


def test_old_keys_still_decrypt_after_rotation(db, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    rest_key = RestApiKeyFactory()
    plaintext = rest_key.secret.reveal()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    rest_key.refresh_from_db()
    assert rest_key.secret.reveal() == plaintext


def test_a_secret_never_prints_in_full():
    secret = Secret("0123456789abcdef0123456789abcdef")
    assert "0123456789abcdef0123456789abcdef" not in f"{secret} {secret!r} {[secret]}"
    assert str(secret).endswith("cdef")
    assert secret.matches("0123456789abcdef0123456789abcdef")
    assert not secret.matches("0123456789abcdef0123456789abcdee")
    assert not secret.matches("")


def test_logs_redact_secrets(caplog):
    logger = logging.getLogger("batchhub.test")
    from batchhub.core.web.logging import RedactSecretsFilter

    logger.addFilter(RedactSecretsFilter())
    with caplog.at_level(logging.INFO, logger="batchhub.test"):
        logger.info("calling with X-Authorization: %s", "s3cr3tvalue123")
        logger.info("secret object %s", Secret("another-secret-value-42"))
    text = caplog.text
    assert "s3cr3tvalue123" not in text
    assert "another-secret-value-42" not in text
