from __future__ import annotations

from django import forms

from batchhub.projects.models import MAX_INACTIVITY_MONTHS


class PurgePeriodForm(forms.Form):
    """A shorter inactivity period to preview."""

    months = forms.IntegerField(
        min_value=1,
        max_value=MAX_INACTIVITY_MONTHS - 1,
        label="Shorter period (months)",
        help_text="You see what it deletes before you confirm it. It takes effect at the next purge run.",
    )


class PurgeShortenForm(PurgePeriodForm):
    """The confirmation of a shorter period: the CSM types the number of profiles the next run would delete."""

    months = forms.IntegerField(min_value=1, max_value=MAX_INACTIVITY_MONTHS - 1, widget=forms.HiddenInput)
    confirm = forms.IntegerField(
        min_value=0,
        label="Profiles deleted at the next run",
        help_text="The number of profiles the next run deletes with the shorter period.",
        widget=forms.NumberInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
