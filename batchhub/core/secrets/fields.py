"""Model fields of shared infrastructure."""

from __future__ import annotations

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from batchhub.core.secrets.crypto import Secret, encrypt

_SERIALISED = "fernet:"


class _SecretAttribute(DeferredAttribute):
    """Wraps whatever is assigned (a default, a form value) in a Secret, so no code path holds a bare str."""

    def __set__(self, instance, value):
        if isinstance(value, str) and value.startswith(_SERIALISED):
            value = Secret.from_token(value[len(_SERIALISED) :])
        elif isinstance(value, str) and value != "":
            value = Secret(value)
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """Stores a secret encrypted at rest; reads back as a `Secret` that never prints in full."""

    description = "Encrypted text (Fernet)"
    descriptor_class = _SecretAttribute

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return Secret.from_token(value)

    def to_python(self, value):
        if value is None or isinstance(value, Secret):
            return value
        if isinstance(value, str) and value.startswith(_SERIALISED):
            return Secret.from_token(value[len(_SERIALISED) :])
        return Secret(str(value))

    def get_prep_value(self, value):
        if value is None or value == "":
            return value
        plaintext = value.reveal() if isinstance(value, Secret) else str(value)
        return encrypt(plaintext)

    def value_to_string(self, obj):
        # Serialisation (dumpdata) carries the ciphertext, never the plaintext, and loads back intact.
        value = self.value_from_object(obj)
        if value is None or value == "":
            return ""
        return _SERIALISED + encrypt(value.reveal() if isinstance(value, Secret) else str(value))
