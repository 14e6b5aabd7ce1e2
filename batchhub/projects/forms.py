from __future__ import annotations

from django import forms

from batchhub.projects.models import MAX_INACTIVITY_MONTHS, App


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown to CSMs and granted partners.")
    customer = forms.CharField(max_length=120, help_text="The customer this project belongs to.")


class AppForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="Used in export file names, e.g. MyShop.")
    platform = forms.ChoiceField(choices=App.Platform.choices)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name.replace("-", "").replace("_", "").replace(" ", "").isalnum():
            raise forms.ValidationError("Use letters, digits, spaces, '-' and '_' only (it goes into file names).")
        return name


class InactivityForm(forms.Form):
    inactivity_months = forms.IntegerField(
        min_value=1,
        max_value=MAX_INACTIVITY_MONTHS,
        label="Inactivity period (months)",
        help_text="Profiles with no activity for this long are purged. It can only be shortened.",
    )


class GrantForm(forms.Form):
    partner = forms.UUIDField(widget=forms.HiddenInput)
