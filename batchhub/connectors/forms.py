"""Forms of connectors and of their destinations and sources: every value checked here, before any service or
transport sees it. Credentials are write-only: a blank field keeps what is stored."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django import forms

from batchhub.api.features import INBOUND_FEATURES
from batchhub.connectors.models import SENSITIVE_SETTINGS, Connector, ExportKind, Identifier, StorageKind
from batchhub.core.storage.base import TransportError, remote_name
from batchhub.core.storage.common import pattern_parts
from batchhub.core.storage.gcs import BUCKET_NAME as GCS_BUCKET_NAME
from batchhub.core.storage.network import address_allowed
from batchhub.core.storage.s3 import BUCKET_NAME as S3_BUCKET_NAME
from batchhub.core.storage.sftp import host_key_pin

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,253}$")


class SecretTextarea(forms.Textarea):
    """A credential typed in a text area: like a password field, never rendered back (not even on a form error)."""

    def format_value(self, value):
        return None


class ConnectorForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="How you and the customer's CSM will recognise it.")
    kind = forms.ChoiceField(choices=Connector.Kind.choices, label="Integration kind")
    features = forms.MultipleChoiceField(
        choices=list(INBOUND_FEATURES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Inbound features it uses",
        help_text="Its API keys can call these and nothing else.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name or _CONTROL.search(name):
            raise forms.ValidationError("Give a name without control characters.")
        return name


class ConnectorCreateForm(ConnectorForm):
    project = forms.ChoiceField(choices=(), help_text="One of the projects granted to your organisation.")

    field_order = ["project", "name", "kind", "features"]

    def __init__(self, *args, projects=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.projects = {str(project.code): project for project in projects}
        self.fields["project"].choices = [(code, project.name) for code, project in self.projects.items()]

    def clean_project(self):
        return self.projects[self.cleaned_data["project"]]  # ChoiceField already refused anything else


class PauseForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, help_text="Shown on the connector page.")


class KeyForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses it, e.g. “production sync”.")


# ---- destinations and sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    secret: bool = False
    required: bool = False
    textarea: bool = False
    help: str = ""
    kind: str = "text"  # text | port | host | bucket | path | url | prefix


_HOST_FIELDS = [
    Field("host", "Host", required=True, kind="host", help="Public host name or address of your server."),
    Field("port", "Port", kind="port"),
    Field("username", "User name", required=True),
]
KIND_FIELDS: dict[str, list[Field]] = {
    StorageKind.LOCAL: [
        Field(
            "path", "Subfolder", kind="path", help="Optional: a folder inside your own folder of BatchHub's storage."
        ),
    ],
    StorageKind.S3: [
        Field("bucket", "Bucket", required=True, kind="bucket"),
        Field("prefix", "Prefix", kind="prefix", help="Folder inside the bucket, e.g. batch/exports/"),
        Field("region", "Region", help="e.g. eu-west-1"),
        Field("endpoint_url", "Endpoint URL", kind="url", help="Only for S3-compatible stores; empty for AWS."),
        Field("access_key_id", "Access key id", secret=True, required=True),
        Field("secret_access_key", "Secret access key", secret=True, required=True),
    ],
    StorageKind.GCS: [
        Field("bucket", "Bucket", required=True, kind="bucket"),
        Field("prefix", "Prefix", kind="prefix"),
        Field(
            "service_account_json",
            "Service account key (JSON)",
            secret=True,
            required=True,
            textarea=True,
            help="The JSON key file of a service account that may write to the bucket.",
        ),
    ],
    StorageKind.SFTP: [
        *_HOST_FIELDS,
        Field("path", "Remote folder", kind="prefix"),
        Field(
            "host_key",
            "Server host key",
            required=True,
            textarea=True,
            kind="host_key",
            help="The server's public key line (as in known_hosts, e.g. “ssh-ed25519 AAAA…”) or its SHA256 "
            "fingerprint. Unknown or changed keys are refused.",
        ),
        Field("password", "Password", secret=True),
        Field("private_key", "Private key", secret=True, textarea=True, help="OpenSSH or PEM; instead of a password."),
        Field("private_key_passphrase", "Private key passphrase", secret=True),
    ],
    StorageKind.FTP: [
        *_HOST_FIELDS,
        Field("path", "Remote folder", kind="prefix"),
        Field("password", "Password", secret=True, required=True),
    ],
    StorageKind.FTPS: [
        *_HOST_FIELDS,
        Field("path", "Remote folder", kind="prefix"),
        Field(
            "ca_pem",
            "Pinned CA certificate (PEM)",
            textarea=True,
            help="Optional: the CA that signed the server's certificate, if not a public one.",
        ),
        Field("password", "Password", secret=True, required=True),
    ],
    StorageKind.HTTP: [
        Field(
            "url",
            "URL",
            required=True,
            kind="url",
            help="https://… of the file to download. Its query string (a signed URL's signature) is stored encrypted.",
        ),
        Field("username", "Basic auth user", secret=True),
        Field("password", "Basic auth password", secret=True),
        Field("header_name", "Header name", secret=True, help="e.g. Authorization"),
        Field("header_value", "Header value", secret=True),
    ],
}
SOURCE_KINDS = list(StorageKind.choices)
DESTINATION_KINDS = [(value, label) for value, label in StorageKind.choices if value != StorageKind.HTTP]


def _refused_literal(host: str) -> bool:
    """A host given as an address (or `localhost`) that the SSRF guard would refuse: said at once, on the form.
    Names are resolved, and checked again, when a connection is made."""
    bare = host.strip("[]")
    if bare.lower() == "localhost" or bare.lower().endswith(".localhost"):
        bare = "127.0.0.1"
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return False
    return not address_allowed(bare)


class StorageForm(forms.Form):
    """A destination's or source's form for one kind (the kind's fields are added from KIND_FIELDS)."""

    name = forms.CharField(max_length=120)

    def __init__(self, *args, kind: str, direction: str, location=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.direction, self.location = kind, direction, location
        stored_secrets = location.credentials_dict() if location is not None and location.kind == kind else {}
        if location is not None:
            self.fields["name"].initial = location.name
        if direction == "source":
            self.fields["pattern"] = forms.CharField(
                max_length=255,
                initial=location.pattern if location is not None else "*.csv",
                help_text="Which files, a glob under the location: *.csv, audiences/*.txt",
            )
        self.spec = KIND_FIELDS[kind]
        self.stored_secrets = stored_secrets
        for spec in self.spec:
            if spec.secret:
                stored = stored_secrets.get(spec.name)
                if stored and not spec.required:
                    self.fields[f"clear_{spec.name}"] = forms.BooleanField(
                        required=False, label=f"Remove the stored {spec.label.lower()}"
                    )
                widget = SecretTextarea(attrs={"rows": 3, "autocomplete": "off"}) if spec.textarea else None
                widget = widget or forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                shown = "Stored (never shown again). Leave blank to keep it." if stored else spec.help
                field = forms.CharField(
                    label=spec.label, required=spec.required and not stored, widget=widget, help_text=shown,
                    strip=False, max_length=20000,
                )  # fmt: skip
            elif spec.kind == "port":
                field = forms.IntegerField(label=spec.label, required=False, min_value=1, max_value=65535)
            else:
                widget = forms.Textarea(attrs={"rows": 3}) if spec.textarea else None
                field = forms.CharField(
                    label=spec.label, required=spec.required, widget=widget, help_text=spec.help, max_length=4000
                )
            if not spec.secret and location is not None and location.kind == kind:
                field.initial = location.location.get(spec.name)
            self.fields[spec.name] = field

    def _check(self, spec: Field, value):
        if value in (None, ""):
            return value
        if isinstance(value, str) and "\x00" in value:
            raise forms.ValidationError("NUL characters are not allowed.")
        if spec.secret or spec.kind == "port":
            return value
        value = value.strip()
        if not spec.textarea and _CONTROL.search(value):
            raise forms.ValidationError("Control characters (line breaks, tabs…) are not allowed here.")
        if spec.kind == "host_key":
            try:
                return host_key_pin(value)
            except TransportError as error:
                raise forms.ValidationError(error.message) from None
        if spec.kind == "host":
            if not _HOST.match(value):
                raise forms.ValidationError("Give a host name or an IP address, without scheme or path.")
            if _refused_literal(value):
                raise forms.ValidationError("That address is private or internal: BatchHub does not connect to it.")
        elif spec.kind == "bucket":
            pattern, most = (S3_BUCKET_NAME, 63) if self.kind == StorageKind.S3 else (GCS_BUCKET_NAME, 222)
            if not pattern.match(value) or ".." in value:
                raise forms.ValidationError(
                    f"Bucket names are 3 to {most} lower-case letters, digits, dots and dashes"
                    f"{' (and underscores)' if self.kind == StorageKind.GCS else ''}."
                )
        elif spec.kind in ("path", "prefix"):
            if value.startswith("/") and spec.kind == "path":
                raise forms.ValidationError("Give a folder relative to the storage root.")
            stripped = value.strip("/")
            if stripped:
                try:
                    remote_name(stripped)
                except TransportError as error:
                    raise forms.ValidationError(error.message) from None
        elif spec.kind == "url":
            if _CONTROL.search(value) or " " in value:
                raise forms.ValidationError("A URL holds no spaces, tabs or line breaks.")
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or not _HOST.match(parts.hostname):
                raise forms.ValidationError("Give a full http:// or https:// URL.")
            if _refused_literal(parts.hostname):
                raise forms.ValidationError("That address is private or internal: BatchHub does not connect to it.")
        elif _CONTROL.search(value.replace("\n", "").replace("\r", "") if spec.textarea else value):
            raise forms.ValidationError("Control characters (line breaks, tabs…) are not allowed here.")
        return value

    def clean(self):
        cleaned = super().clean()
        for spec in self.spec:
            if spec.name in cleaned:
                try:
                    cleaned[spec.name] = self._check(spec, cleaned[spec.name])
                except forms.ValidationError as error:
                    self.add_error(spec.name, error)
        if self.kind == StorageKind.GCS and cleaned.get("service_account_json"):
            try:
                info = json.loads(cleaned["service_account_json"])
            except (ValueError, RecursionError):  # a deeply nested document is no key file either
                info = None
            if not isinstance(info, dict) or "client_email" not in info or "private_key" not in info:
                self.add_error("service_account_json", "Paste the whole JSON key file of a service account.")
        if self.kind == StorageKind.SFTP and not self.errors:
            stored = self.location.credentials_dict() if self.location and self.location.kind == self.kind else {}
            if not (cleaned.get("password") or cleaned.get("private_key") or stored):
                self.add_error("password", "Give a password or a private key.")
        if self.kind == StorageKind.HTTP and bool(cleaned.get("username")) != bool(cleaned.get("password")):
            stored = self.location.credentials_dict() if self.location and self.location.kind == self.kind else {}
            if not stored.get("username"):
                self.add_error("password", "Basic auth needs both a user and a password.")
        if self.stored_secrets and self.location is not None and not self.errors:
            before = self.location.location
            now = {**cleaned, "url": str(cleaned.get("url") or "").partition("?")[0] or None}
            moved = [name for name in SENSITIVE_SETTINGS if (now.get(name) or None) != (before.get(name) or None)]
            typed = [spec.name for spec in self.spec if spec.secret and cleaned.get(spec.name)]
            typed += ["url_query"] if "?" in str(cleaned.get("url") or "") else []
            if moved and not typed:
                first = next(spec.name for spec in self.spec if spec.secret)
                self.add_error(
                    first,
                    f"The {moved[0].replace('_', ' ')} changed: type the credentials again (stored ones are never "
                    "sent to another server).",
                )
        pattern = cleaned.get("pattern")
        if pattern is not None:
            try:
                pattern_parts(pattern)  # the transports' own rule
            except TransportError:
                self.add_error(
                    "pattern", "The pattern must stay inside the location: no “..”, “.”, “//”, “\\” nor leading “/”."
                )
        return cleaned

    def settings_and_secrets(self) -> tuple[dict, dict, list[str]]:
        """(plain settings, credentials typed in, stored credentials to remove). An HTTP URL's query string goes
        with the credentials."""
        plain, secret = {}, {}
        for spec in self.spec:
            value = self.cleaned_data.get(spec.name)
            if value in (None, ""):
                continue
            (secret if spec.secret else plain)[spec.name] = value
        if self.kind == StorageKind.HTTP and "url" in plain:
            url, _, query = plain["url"].partition("?")
            plain["url"] = url
            if query:
                secret["url_query"] = query
        cleared = [spec.name for spec in self.spec if self.cleaned_data.get(f"clear_{spec.name}")]
        return plain, secret, cleared


class ExportConfigForm(forms.Form):
    """A daily export of one app of the connector's project to one of its destinations."""

    app = forms.ChoiceField(choices=(), help_text="An app of the connector's project.")
    kind = forms.ChoiceField(choices=ExportKind.choices, label="What it exports")
    identifier = forms.ChoiceField(
        choices=Identifier.choices, label="Second column", help_text="The guide allows advertising ids instead."
    )
    destination = forms.ChoiceField(choices=(), help_text="Where the file is written, each UTC day after 02:00.")
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, apps=(), destinations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.apps = {str(app.code): app for app in apps}
        self.destinations = {str(destination.code): destination for destination in destinations}
        self.fields["app"].choices = [(code, str(app)) for code, app in self.apps.items()]
        self.fields["destination"].choices = [(code, str(dest)) for code, dest in self.destinations.items()]

    def clean_app(self):
        return self.apps[self.cleaned_data["app"]]

    def clean_destination(self):
        return self.destinations[self.cleaned_data["destination"]]


class BackfillForm(forms.Form):
    """Export a range of past days again, in order (the service judges the range: yesterday at the latest, 90 days
    back at most)."""

    first_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), input_formats=["%Y-%m-%d"])
    last_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), input_formats=["%Y-%m-%d"])
    force = forms.BooleanField(
        required=False,
        label="Write every day again",
        help_text="Without it, a day already exported whose rows are unchanged and whose file is still there is "
        "skipped.",
    )
