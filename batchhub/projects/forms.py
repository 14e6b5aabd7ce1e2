from __future__ import annotations

from django import forms

from batchhub.core.services import DEFAULT_ROTATION_OVERLAP, MAX_ROTATION_OVERLAP
from batchhub.projects.models import App


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown to CSMs and granted partners.")
    customer = forms.CharField(
        max_length=120,
        help_text="The customer company: its REST API keys work for all its projects. One not listed yet is created.",
        widget=forms.TextInput(attrs={"list": "customers", "autocomplete": "off"}),
    )


class AppForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="Used in export file names, e.g. MyShop.")
    platform = forms.ChoiceField(choices=App.Platform.choices)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name.replace("-", "").replace("_", "").replace(" ", "").isalnum():
            raise forms.ValidationError("Use letters, digits, spaces, '-' and '_' only (it goes into file names).")
        return name


class GrantForm(forms.Form):
    partner = forms.UUIDField(widget=forms.HiddenInput)


class RestKeyForm(forms.Form):
    COMPANY, PROJECT = "company", "project"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "key_%s")  # its "name" field shares the page with the app form's
        super().__init__(*args, **kwargs)

    name = forms.CharField(max_length=80, help_text="What uses it, e.g. “CRM sync” (shown in the key list).")
    scope = forms.ChoiceField(
        choices=[(COMPANY, "Every project of the customer"), (PROJECT, "This project only")], initial=COMPANY
    )


class RestKeyRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        min_value=0,
        max_value=int(MAX_ROTATION_OVERLAP.total_seconds() // 3600),
        initial=int(DEFAULT_ROTATION_OVERLAP.total_seconds() // 3600),
        label="Old key keeps working for (hours)",
        help_text="0 revokes the old key now.",
    )
