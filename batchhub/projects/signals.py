"""Signals other apps listen to, so that `projects` never imports them."""

from django.dispatch import Signal

# Sent when any App, Project or RestApiKey is saved or deleted, and by raw deletes that send no model signal:
# whoever keeps credentials in memory (the API's authentication) must forget them.
credentials_changed = Signal()


def credentials_changed_relay(**_) -> None:
    """Model signal receiver: an App, Project or RestApiKey changed."""
    credentials_changed.send(sender=None)
