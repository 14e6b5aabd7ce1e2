from __future__ import annotations

from django import template
from django.utils import timezone

from batchhub.core.secrets.crypto import Secret, mask

register = template.Library()


@register.filter
def masked(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, Secret):
        return value.masked
    return mask(str(value))


@register.filter
def since(value) -> str:
    """'3 min ago' style, compact, for tables."""
    if not value:
        return "never"
    seconds = int((timezone.now() - value).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now" if seconds < 10 else f"{seconds} s ago"


@register.simple_tag(takes_context=True)
def query_with(context, **kwargs) -> str:
    """The current query string with some keys replaced (empty values drop the key)."""
    params = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def dict_get(mapping, key):
    return mapping.get(key, []) if mapping else []


@register.filter
def marked_invalid(field):
    """Render a bound field, flagged aria-invalid when it has errors (Pico styles that)."""
    if field.errors:
        return field.as_widget(attrs={"aria-invalid": "true", "aria-describedby": f"{field.auto_id}_error"})
    return field.as_widget()
