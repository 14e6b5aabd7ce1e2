"""The campaign editor's form: the campaign's settings and one message row per language."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.core.validators import URLValidator

from batchhub.campaigns.models import SCENARIO_PATTERN, Campaign
from batchhub.campaigns.reads import Preview, PreviewMessage, messages_in_order
from batchhub.campaigns.rules import MAX_LABEL, MAX_LABELS, payload_object

LANGUAGE_RE = re.compile(r"^(default|[a-z]{2})$")
LOCAL_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")
_https_only = URLValidator(schemes=["https"], message="Give an https:// address.", code="not_https")
# A deeplink opens in the app: any scheme of its own (myapp://…) or https, never one that runs code in a browser.
_DEEPLINK_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")
_DEEPLINK_REFUSED = ("javascript", "data", "vbscript", "file")


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    app = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Every app of the project", help_text="Optional."
    )
    channel = forms.ChoiceField(choices=Campaign.Channel.choices, initial=Campaign.Channel.PUSH)
    priority = forms.ChoiceField(choices=Campaign.Priority.choices, initial=Campaign.Priority.NORMAL)
    push_time = forms.DateTimeField(
        required=False,
        label="Push time (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="One instant for everyone, or…",
    )
    local_push_time = forms.CharField(
        required=False,
        label="Local push time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="…each user's own clock. Not both. A live campaign needs one.",
    )
    deeplink = forms.CharField(max_length=2048, required=False, help_text="myapp://offers/42 or https://…")
    media_icon = forms.URLField(
        max_length=2048, required=False, label="Icon URL", validators=[_https_only], assume_scheme="https"
    )
    media_picture = forms.URLField(
        max_length=2048, required=False, label="Picture URL", validators=[_https_only], assume_scheme="https"
    )
    custom_payload = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"offer_id": 42}'}),
        help_text="A JSON object, sent to the app as is.",
    )
    labels = forms.CharField(max_length=1000, required=False, help_text="Comma-separated, e.g. promo, winter")
    is_live = forms.BooleanField(required=False, label="Live", help_text="Off: a draft, usable as a template.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app"].queryset = project.apps.order_by("name", "platform")
        self.fields["app"].label_from_instance = lambda app: f"{app.name} ({app.get_platform_display()})"

    def clean_local_push_time(self) -> str:
        value = self.cleaned_data["local_push_time"].strip()
        if not value:
            return ""
        for fmt in LOCAL_TIME_FORMATS:
            try:
                return dt.datetime.strptime(value, fmt).strftime("%Y-%m-%dT%H:%M:%S")
            except ValueError:
                continue
        raise forms.ValidationError("Give a date and time as YYYY-MM-DDTHH:MM:SS.")

    def clean_deeplink(self) -> str:
        value = self.cleaned_data["deeplink"].strip()
        if value and (not _DEEPLINK_RE.match(value) or value.split(":", 1)[0].lower() in _DEEPLINK_REFUSED):
            raise forms.ValidationError("Give a link with a scheme, like myapp://home or https://example.com/.")
        return value

    def clean_custom_payload(self) -> str:
        value = self.cleaned_data["custom_payload"].strip()
        if not value:
            return ""
        try:
            payload_object(value)
        except ValueError as exc:
            raise forms.ValidationError(
                f'The custom payload must be a JSON object, like {{"key": "value"}}: {exc}.'
            ) from exc
        return value

    def clean_labels(self) -> list[str]:
        """The API's rule (rules.MAX_LABELS codes of up to rules.MAX_LABEL characters), comma-separated here."""
        labels: list[str] = []
        for label in self.cleaned_data["labels"].split(","):
            label = label.strip()
            if len(label) > MAX_LABEL:
                raise forms.ValidationError(f"A label has at most {MAX_LABEL} characters: {label[:20]}… is longer.")
            if label and label not in labels:
                labels.append(label)
        if len(labels) > MAX_LABELS:
            raise forms.ValidationError(f"At most {MAX_LABELS} labels (Batch's limit), not {len(labels)}.")
        return labels

    def clean(self):
        data = super().clean()
        if data.get("push_time") and data.get("local_push_time"):
            self.add_error("local_push_time", "Give a push time or a local push time, not both.")
        elif data.get("is_live") and not (data.get("push_time") or data.get("local_push_time")):
            self.add_error("push_time", "A live campaign needs a push time or a local push time.")
        return data


class MessageForm(forms.Form):
    language = forms.CharField(max_length=16, initial="default", help_text='"default" or a code like en, fr')
    title = forms.CharField(max_length=200, required=False)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def clean_language(self) -> str:
        value = self.cleaned_data["language"].strip().lower()
        if not LANGUAGE_RE.match(value):
            raise forms.ValidationError('Give "default" or a two-letter language code (en, fr, …).')
        return value


class BaseMessageFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise forms.ValidationError("Write the message in at least one language.")
        languages = [f.cleaned_data["language"] for f in kept]
        repeated = sorted({language for language in languages if languages.count(language) > 1})
        if repeated:
            raise forms.ValidationError(f"One message per language: {', '.join(repeated)} appears more than once.")

    def messages(self) -> list[dict[str, str]]:
        return [
            {"language": f.cleaned_data["language"], "title": f.cleaned_data["title"], "body": f.cleaned_data["body"]}
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]


def message_formset(data=None, *, initial=None, extra: int = 1):
    formset_class = forms.formset_factory(
        MessageForm, formset=BaseMessageFormSet, extra=extra, can_delete=True, max_num=50, absolute_max=50
    )
    return formset_class(data, initial=initial, prefix="messages")


def campaign_initial(campaign: Campaign) -> tuple[dict, list[dict]]:
    """The form's and the message rows' initial values from a saved campaign."""
    initial = {name: getattr(campaign, name) for name in ("name", "channel", "priority", "is_live", "deeplink")}
    initial.update(
        app=campaign.app_id,
        push_time=campaign.push_time,
        local_push_time=campaign.local_push_time,
        media_icon=campaign.media_icon,
        media_picture=campaign.media_picture,
        custom_payload=campaign.custom_payload,
        labels=", ".join(campaign.labels or []),
    )
    rows = [
        {"language": m.language, "title": m.title, "body": m.body} for m in messages_in_order(campaign.messages.all())
    ]
    return initial, rows


def posted_rows(data) -> list[dict[str, str]]:
    """The message rows as typed (valid or not), for re-rendering the editor with one more row and for the preview."""
    try:
        total = min(int(data.get("messages-TOTAL_FORMS", 0)), 50)
    except ValueError:
        total = 0
    rows = []
    for index in range(max(total, 0)):
        row = {key: data.get(f"messages-{index}-{key}", "") for key in ("language", "title", "body")}
        if data.get(f"messages-{index}-DELETE"):
            continue
        rows.append(row)
    return rows


def preview_from_post(data, *, project) -> Preview:
    """The preview of what is typed, even half-finished: rows without a body are left out, a picture or icon that is
    not an https address is not shown."""

    def https_or_blank(value: str) -> str:
        try:
            _https_only(value)
        except forms.ValidationError:
            return ""
        return value

    app_name = project.name
    app_id = data.get("app", "")
    if app_id.isdigit():
        app = project.apps.filter(pk=int(app_id)).first()
        app_name = app.name if app else app_name
    channel = data.get("channel", "")
    messages = [
        PreviewMessage(row["language"].strip() or "default", row["title"], row["body"])
        for row in posted_rows(data)
        if row["body"].strip() or row["title"].strip()
    ]
    return Preview(
        messages=messages,
        channel=channel if channel in Campaign.Channel.values else Campaign.Channel.PUSH,
        app_name=app_name,
        deeplink=data.get("deeplink", "").strip(),
        icon=https_or_blank(data.get("media_icon", "").strip()),
        picture=https_or_blank(data.get("media_picture", "").strip()),
    )


class TemplateBindForm(forms.Form):
    """The picker's "Use for scenario…": the partner-side scenario name the draft is sent for."""

    campaign = forms.UUIDField(widget=forms.HiddenInput)
    scenario = forms.RegexField(
        regex=SCENARIO_PATTERN,
        max_length=100,
        label="Scenario",
        help_text="Your platform's name for it: letters, digits, dot, dash, underscore.",
        error_messages={"invalid": "Letters, digits, dot, dash and underscore only (up to 100)."},
        widget=forms.TextInput(attrs={"placeholder": "order_shipped", "autocomplete": "off"}),
    )
    replace = forms.BooleanField(required=False, label="Replace an existing binding")
