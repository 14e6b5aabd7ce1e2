"""Secrets: encryption at rest (Fernet, rotation-ready), the `Secret` value that masks itself, the encrypted
model field, and showing a new secret once."""
