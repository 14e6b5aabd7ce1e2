"""The inbound features a caller may be limited to (a connector's key opens only those its connector uses)."""

from __future__ import annotations

CUSTOM_DATA = "custom_data"
TRIGGER_EVENTS = "trigger_events"
CUSTOM_AUDIENCES = "custom_audiences"
TRANSACTIONAL = "transactional"
GDPR = "gdpr"
INBOUND_FEATURES: dict[str, str] = {
    CUSTOM_DATA: "Custom data (Custom Data API, Profile API attributes)",
    TRIGGER_EVENTS: "Trigger events (Trigger Events API, Profile API events)",
    CUSTOM_AUDIENCES: "Custom audiences",
    TRANSACTIONAL: "Transactional sends",
    GDPR: "GDPR requests",
}
FEATURE_NAMES: dict[str, str] = {
    CUSTOM_DATA: "Custom data",
    TRIGGER_EVENTS: "Trigger events",
    CUSTOM_AUDIENCES: "Custom audiences",
    TRANSACTIONAL: "Transactional",
    GDPR: "GDPR",
}
