"""Validation of Campaigns API 1.1 bodies and queries, into the operations the appliers (`applying`) carry out.

Every rule names the key at fault and what was expected (400, the per-app family's shape). Whatever passes here
can be applied: an applier only writes what these rules produced.

Choices where Batch's documentation is silent (digest §5: only `create`'s minimal body is documented):
- `targeting` is an object `{"custom_audiences": ["name", …]}` (Batch's 2.x campaigns take an object too);
  the names follow the Custom Audience API's rule and are not checked against existing audiences;
- `push_time` is "now" or an ISO 8601 date-time, UTC when it carries no offset, not in the past; `local_push_time`
  is `YYYY-MM-DDTHH:MM:SS`, each user's wall clock time;
- keys the API does not know are refused, naming them, rather than silently dropped;
- `labels` (label codes) is a list of at most 5 strings, as Batch documents for its 2.x campaigns and as our
  Transactional API takes them; Batch's 1.1 page names no limit. No comma: the dashboard edits them comma-separated;
- on update, `messages` replaces every message, `media` replaces both images, and `null` clears `deeplink`,
  `media`, `custom_payload`, `targeting` or `labels`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from batchhub.api.errors import ApiError
from batchhub.campaigns.models import Campaign, new_campaign_token
from batchhub.core.web.text import shown

MAX_NAME = 200  # Campaign.name
MAX_TITLE = 200  # CampaignMessage.title
MAX_BODY = 4_000
MAX_MESSAGES = 100
MAX_URL = 2_048  # Campaign.deeplink, media_icon, media_picture
MAX_CUSTOM_PAYLOAD = 4_000
MAX_AUDIENCES = 50
MAX_LABELS = 5  # Batch's 2.x campaigns: "Limited at 5 labels per campaign"
MAX_LABEL = 100
LIST_DEFAULT, LIST_MAX = 10, 100
PAST_SKEW = dt.timedelta(minutes=2)  # a client's clock a little ahead of ours is not "in the past"

LANGUAGE_PATTERN = r"^(?:[a-z]{2}|default)$"  # ISO 639-1, or "default" for every other language
LOCAL_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
URL_PATTERN = r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$"  # a deeplink may use the app's own scheme
HTTPS_PATTERN = r"^https://\S+$"
AUDIENCE_PATTERN = r"^[a-zA-Z0-9_-]{1,255}$"  # Custom Audience API 1.1 names
TOKEN_PATTERN = re.compile(r"^[0-9a-f]{32}$")

_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_LOCAL_TIME = re.compile(LOCAL_TIME_PATTERN)
_URL = re.compile(URL_PATTERN)
_HTTPS = re.compile(HTTPS_PATTERN)
_AUDIENCE = re.compile(AUDIENCE_PATTERN)

CREATE_KEYS = (
    "name", "live", "push_time", "local_push_time", "messages", "priority", "deeplink", "media", "custom_payload",
    "targeting", "labels",
)  # fmt: skip
CLEARABLE = ("deeplink", "media", "custom_payload", "targeting", "labels")


def _missing(key: str, expected: str) -> ApiError:
    return ApiError("MISSING_PARAMETER", f"'{key}' is required: {expected}.")


def _malformed(key: str, expected: str) -> ApiError:
    return ApiError("MALFORMED_PARAMETER", f"'{key}' must be {expected}.")


def _string(value: Any, key: str, *, limit: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()) or len(value) > limit:
        raise _malformed(key, f"a{'' if allow_empty else ' non-empty'} string of at most {limit:,} characters")
    return value


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise ApiError("MALFORMED_PARAMETER", "The body must be a JSON object.")
    unknown = [key for key in body if key not in CREATE_KEYS]
    if unknown:
        raise ApiError(
            "MALFORMED_PARAMETER",
            f"Unknown key '{shown(unknown[0])}'; the keys are: {', '.join(CREATE_KEYS)}.",
        )
    return body


def _push_time(value: Any, now: dt.datetime) -> str:
    """The instant as ISO 8601 UTC; "now" is the call's time."""
    expected = '"now" or an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS, UTC unless it carries an offset), not past'
    if value == "now":
        return now.isoformat()
    if not isinstance(value, str) or len(value) > 40:
        raise _malformed("push_time", expected)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-01:00 is past the last representable instant
        raise _malformed("push_time", expected) from None
    if moment < now - PAST_SKEW:
        raise ApiError("MALFORMED_PARAMETER", f"'push_time' {shown(value)} is in the past; send \"now\" to send now.")
    return moment.isoformat()


def _local_push_time(value: Any) -> str:
    expected = "a wall clock time YYYY-MM-DDTHH:MM:SS (each user's own time zone)"
    if not isinstance(value, str) or not _LOCAL_TIME.fullmatch(value):
        raise _malformed("local_push_time", expected)
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise _malformed("local_push_time", expected) from None
    return value


def _messages(value: Any) -> list[dict]:
    expected = f'a list of 1 to {MAX_MESSAGES} objects {{"language", "title"?, "body"}}'
    if not isinstance(value, list) or not 0 < len(value) <= MAX_MESSAGES:
        raise _malformed("messages", expected)
    messages, seen = [], set()
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _malformed(where, 'an object {"language", "title"?, "body"}')
        unknown = [key for key in message if key not in ("language", "title", "body")]
        if unknown:
            raise ApiError("MALFORMED_PARAMETER", f"Unknown key '{where}.{shown(unknown[0])}'.")
        language = message.get("language")
        if language is None:
            raise _missing(f"{where}.language", 'an ISO 639-1 code ("en") or "default"')
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise _malformed(f"{where}.language", 'an ISO 639-1 code in lower case ("en") or "default"')
        if language in seen:
            raise ApiError("MALFORMED_PARAMETER", f"'{where}.language' {language} is given twice: one per language.")
        seen.add(language)
        if "body" not in message:
            raise _missing(f"{where}.body", "the message's text")
        body = _string(message["body"], f"{where}.body", limit=MAX_BODY)
        title = message.get("title")
        title = "" if title is None else _string(title, f"{where}.title", limit=MAX_TITLE, allow_empty=True)
        messages.append({"language": language, "title": title, "body": body})
    return messages


def _media(value: Any) -> dict:
    if not isinstance(value, dict) or not value or any(key not in ("icon", "picture") for key in value):
        raise _malformed("media", 'an object {"icon"?, "picture"?} of https URLs')
    media = {}
    for key in ("icon", "picture"):
        url = value.get(key)
        if url is not None and (not isinstance(url, str) or len(url) > MAX_URL or not _HTTPS.fullmatch(url)):
            raise _malformed(f"media.{key}", f"an https URL of at most {MAX_URL:,} characters")
        media[key] = url or ""
    return media


def _custom_payload(value: Any) -> str:
    expected = f"a string holding a JSON object, of at most {MAX_CUSTOM_PAYLOAD:,} characters"
    if not isinstance(value, str) or len(value) > MAX_CUSTOM_PAYLOAD:
        raise _malformed("custom_payload", expected)
    try:
        payload_object(value)
    except ValueError as error:
        raise _malformed("custom_payload", f"{expected} ({error})") from None
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def payload_object(text: str) -> dict:
    """A custom payload's JSON object, as strict as a push gateway will be: no NaN or Infinity (Python's json takes
    them), no lone surrogate (it cannot be sent as UTF-8). ValueError says what is wrong."""
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("it is nested too deep") from None
    except ValueError as error:
        raise ValueError(str(error) if "is not JSON" in str(error) else "it is not JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError("it is JSON, but not an object")
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("it holds a lone surrogate escape") from None
    return parsed


def _targeting(value: Any) -> list[str]:
    expected = f'an object {{"custom_audiences": [names]}} of 1 to {MAX_AUDIENCES} audience names'
    if not isinstance(value, dict) or set(value) != {"custom_audiences"}:
        raise _malformed("targeting", expected)
    names = value["custom_audiences"]
    if not isinstance(names, list) or not 0 < len(names) <= MAX_AUDIENCES:
        raise _malformed("targeting.custom_audiences", f"a list of 1 to {MAX_AUDIENCES} audience names")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not _AUDIENCE.fullmatch(name):
            raise _malformed(f"targeting.custom_audiences[{index}]", "an audience name ([a-zA-Z0-9_-], 1 to 255)")
    return list(dict.fromkeys(names))


def _labels(value: Any) -> list[str]:
    """Label codes, each once, in the order given."""
    expected = f"a list of at most {MAX_LABELS} label codes (strings of 1 to {MAX_LABEL} characters, no comma)"
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise _malformed("labels", expected)
    for index, label in enumerate(value):
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL or "," in label:
            raise _malformed(f"labels[{index}]", f"a label code of 1 to {MAX_LABEL} characters, with no comma")
    return list(dict.fromkeys(label.strip() for label in value))


def _fields(body: dict, now: dt.datetime, *, creating: bool) -> dict:
    """The campaign's columns the body sets (update: only those given; null clears the clearable ones)."""
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = _string(body["name"], "name", limit=MAX_NAME).strip()
    if "live" in body:
        if not isinstance(body["live"], bool):
            raise _malformed("live", "true or false")
        fields["is_live"] = body["live"]
    given = [key for key in ("push_time", "local_push_time") if body.get(key) is not None]
    if len(given) == 2:
        raise ApiError("MALFORMED_PARAMETER", "Give 'push_time' or 'local_push_time', not both.")
    if "push_time" in given:
        fields["push_time"], fields["local_push_time"] = _push_time(body["push_time"], now), ""
    if "local_push_time" in given:
        fields["push_time"], fields["local_push_time"] = None, _local_push_time(body["local_push_time"])
    if body.get("priority") is not None:
        if body["priority"] not in Campaign.Priority.values:
            raise _malformed("priority", " or ".join(f'"{value}"' for value in Campaign.Priority.values))
        fields["priority"] = body["priority"]
    for key in CLEARABLE:
        if key not in body or (body[key] is None and creating):
            continue
        value = body[key]
        if key == "deeplink":
            if value is not None and (not isinstance(value, str) or len(value) > MAX_URL or not _URL.fullmatch(value)):
                raise _malformed("deeplink", f"a URL (any scheme, e.g. myapp://home) of at most {MAX_URL:,} characters")
            fields["deeplink"] = value or ""
        elif key == "media":
            media = _media(value) if value is not None else {"icon": "", "picture": ""}
            fields["media_icon"], fields["media_picture"] = media["icon"], media["picture"]
        elif key == "custom_payload":
            fields["custom_payload"] = _custom_payload(value) if value is not None else ""
        elif key == "labels":
            fields["labels"] = _labels(value) if value is not None else []
        else:
            fields["targeting"] = _targeting(value) if value is not None else []
    return fields


def campaign_create_check(body: Any, now: dt.datetime, *, project_id: int, app_id: int, dev_only: bool) -> dict:
    """The create operation (with the new campaign's token), or a 400 naming the key at fault. `dev_only`: the call
    came with the app's dev API key (Batch sends such a campaign to dev builds only)."""
    body = _object(body)
    if "name" not in body:
        raise _missing("name", "the campaign's name")
    if "live" not in body:
        raise _missing("live", "true to send it, false for a draft")
    if body.get("push_time") is None and body.get("local_push_time") is None:
        raise _missing("push_time", "\"now\", a date-time, or 'local_push_time' instead")
    if "messages" not in body:
        raise _missing("messages", 'a list of {"language", "title"?, "body"}')
    fields = _fields(body, now, creating=True)
    fields["dev_only"] = dev_only
    return {
        "token": new_campaign_token(),
        "project_id": project_id,
        "app_id": app_id,
        "fields": fields,
        "messages": _messages(body["messages"]),
    }


def campaign_update_check(body: Any, now: dt.datetime, *, campaign: Campaign) -> dict:
    """The update operation of `campaign` (found by the route), or a 400 naming the key at fault."""
    body = _object(body)
    if not body:
        raise ApiError("MISSING_PARAMETER", f"The body changes nothing: give one or more of {', '.join(CREATE_KEYS)}.")
    for key in ("name", "live", "messages", "priority", "push_time", "local_push_time"):
        if key in body and body[key] is None:
            raise _malformed(key, "given a value (it cannot be cleared; for a time, give the other kind instead)")
    fields = _fields(body, now, creating=False)
    messages = _messages(body["messages"]) if "messages" in body else None
    return {"token": campaign.token, "fields": fields, "messages": messages}


def _boolean(value: str | None, key: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise _malformed(key, "true or false")
    return value == "true"


def _integer(value: str | None, key: str, *, default: int, low: int, high: int | None) -> int:
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9 or not low <= int(value) <= (high or 10**9):
        raise _malformed(key, f"an integer from {low}" + (f" to {high}" if high else ""))
    return int(value)


def campaigns_list_check(query) -> dict:
    """The list's filters from its query string (`from` an offset, `limit` 1..100, `live`, `from_api`)."""
    return {
        "offset": _integer(query.get("from"), "from", default=0, low=0, high=None),
        "limit": _integer(query.get("limit"), "limit", default=LIST_DEFAULT, low=1, high=LIST_MAX),
        "live": _boolean(query.get("live"), "live"),
        "from_api": _boolean(query.get("from_api"), "from_api"),
    }


# ---- Transactional API 1.0 / 1.1 ------------------------------------------------------------------------------

MAX_RECIPIENTS = 10_000
MAX_GROUP_ID = 100
MAX_TIME_TO_LIVE = 28 * 24 * 3600  # the longest APNs and FCM keep a message
GROUP_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,100}$"
_GROUP_ID = re.compile(GROUP_ID_PATTERN)
SEND_KEYS = (
    "group_id", "recipients", "message", "template_id", "deeplink", "sandbox", "custom_payload", "media", "priority",
    "time_to_live", "labels",
)  # fmt: skip
RECIPIENT_KEYS = ("tokens", "custom_ids", "install_ids")
MAX_ID = 512  # Installation.custom_id, push_token


def group_id_check(value: Any) -> str:
    if value is None:
        raise _missing("group_id", "letters, digits, _ and - (at most 100), naming the send's group")
    if not isinstance(value, str) or not _GROUP_ID.fullmatch(value):
        raise _malformed("group_id", f"letters, digits, _ and - only, 1 to {MAX_GROUP_ID} of them")
    return value


def _recipients(value: Any) -> tuple[dict[str, list[str]], int]:
    expected = f"an object with one or more of {', '.join(RECIPIENT_KEYS)}: lists of ids, {MAX_RECIPIENTS:,} in all"
    if value is None:
        raise _missing("recipients", expected)
    if not isinstance(value, dict) or any(key not in RECIPIENT_KEYS for key in value):
        raise _malformed("recipients", expected)
    recipients, total = {}, 0
    for key in RECIPIENT_KEYS:
        ids = value.get(key)
        if ids is None:
            continue
        if not isinstance(ids, list):
            raise _malformed(f"recipients.{key}", "a list of strings")
        for index, item in enumerate(ids):
            if not isinstance(item, str) or not item.strip() or len(item) > MAX_ID:
                raise _malformed(f"recipients.{key}[{index}]", f"a non-empty string of at most {MAX_ID} characters")
        recipients[key] = ids
        total += len(ids)
    if total == 0:
        raise ApiError("MALFORMED_PARAMETER", f"'recipients' names nobody: {expected}.")
    if total > MAX_RECIPIENTS:
        raise ApiError(
            "MALFORMED_PARAMETER", f"'recipients' names {total:,} ids: at most {MAX_RECIPIENTS:,} in one send."
        )
    return recipients, total


def _template(value: Any, templates) -> Campaign:
    """The draft `template_id` names, among `templates` (the project's campaigns), or a 400 that says why not."""
    if not isinstance(value, str) or not TOKEN_PATTERN.fullmatch(value):
        raise _malformed("template_id", "the token of a draft campaign of this project (32 hexadecimal characters)")
    campaign = templates.filter(token=value).first()
    if campaign is None:
        raise ApiError("MALFORMED_PARAMETER", f"'template_id' {value} is not a campaign of this project.")
    if campaign.deleted_at is not None:
        raise ApiError("MALFORMED_PARAMETER", f"'template_id' {value} names a deleted campaign.")
    if campaign.is_live:
        raise ApiError(
            "MALFORMED_PARAMETER", f"'template_id' {value} names a live campaign: only a draft can be a template."
        )
    if campaign.channel != Campaign.Channel.PUSH:
        raise ApiError(
            "MALFORMED_PARAMETER",
            f"'template_id' {value} names a draft of channel {campaign.channel}: a transactional send is a push.",
        )
    return campaign


def _template_contents(campaign: Campaign | None) -> tuple[dict, dict[str, dict]]:
    """A draft's content, every language of it: the message for everyone else (its "default", else its first
    language in alphabetical order) with its `language`, and the other languages' messages by language. A message
    with an empty body is left out (its language's users get the fallback). No draft: empty."""
    messages = {
        message.language: {"title": message.title, "body": message.body}
        for message in (campaign.messages.all() if campaign else ())
        if message.body.strip()
    }
    if not messages:
        return {"language": "default", "title": "", "body": ""}, {}
    fallback = "default" if "default" in messages else min(messages)
    translations = {language: content for language, content in sorted(messages.items()) if language != fallback}
    return {"language": fallback, **messages[fallback]}, translations


def transactional_send_check(body: Any, *, templates) -> dict:
    """A send as the worker applies it (`campaigns.sending`): its group, recipients and total, and the message
    complete — a template's content in every language, a snapshot taken now, overridden by what the call gives.
    `message` holds the fallback's title and body (and its `language`), `message["translations"]` the others'."""
    if not isinstance(body, dict):
        raise ApiError("MALFORMED_PARAMETER", "The body must be a JSON object.")
    unknown = [key for key in body if key not in SEND_KEYS]
    if unknown:
        raise ApiError(
            "MALFORMED_PARAMETER", f"Unknown key '{shown(unknown[0])}'; the keys are: {', '.join(SEND_KEYS)}."
        )
    group_id = group_id_check(body.get("group_id"))
    recipients, total = _recipients(body.get("recipients"))
    template = _template(body["template_id"], templates) if body.get("template_id") is not None else None
    message, translations = _template_contents(template)
    message.update(
        deeplink=template.deeplink if template else "",
        media={"icon": template.media_icon, "picture": template.media_picture} if template else {},
        custom_payload=template.custom_payload if template else "",
        priority=template.priority if template else Campaign.Priority.NORMAL,
    )
    given = body.get("message")
    if given is None and template is None:
        raise _missing("message", 'an object {"title"?, "body"} (or a "template_id")')
    if given is not None:
        if not isinstance(given, dict) or any(key not in ("title", "body") for key in given):
            raise _malformed("message", 'an object {"title"?, "body"}')
        if "body" not in given and template is None:
            raise _missing("message.body", "the message's text")
        # the call's content has no language: it overrides the template's in every language
        overrides = {}
        if "body" in given:
            overrides["body"] = _string(given["body"], "message.body", limit=MAX_BODY)
        if given.get("title") is not None:
            overrides["title"] = _string(given["title"], "message.title", limit=MAX_TITLE, allow_empty=True)
        message.update(overrides)
        for content in translations.values():
            content.update(overrides)
    if not message["body"].strip():
        raise ApiError("MALFORMED_PARAMETER", '\'template_id\' names a draft with no message: give "message" {"body"}.')
    if body.get("deeplink") is not None:
        deeplink = _string(body["deeplink"], "deeplink", limit=MAX_URL)
        if not _URL.fullmatch(deeplink):
            raise _malformed("deeplink", "a URL (https:// or the app's own scheme://)")
        message["deeplink"] = deeplink
    if body.get("media") is not None:
        message["media"] = _media(body["media"])
    if body.get("custom_payload") is not None:
        message["custom_payload"] = _custom_payload(body["custom_payload"])
    if body.get("priority") is not None:
        if body["priority"] not in Campaign.Priority.values:
            raise _malformed("priority", f"one of {', '.join(Campaign.Priority.values)}")
        message["priority"] = body["priority"]
    ttl = body.get("time_to_live")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TIME_TO_LIVE):
        raise _malformed("time_to_live", f"a number of seconds from 0 to {MAX_TIME_TO_LIVE:,}")
    message["time_to_live"] = ttl
    sandbox = body.get("sandbox", False)
    if not isinstance(sandbox, bool):
        raise _malformed("sandbox", "true or false")
    message["sandbox"] = sandbox
    labels = body.get("labels", [])
    if not isinstance(labels, list) or len(labels) > MAX_LABELS:
        raise _malformed("labels", f"a list of at most {MAX_LABELS} strings")
    message["labels"] = [_string(label, f"labels[{i}]", limit=MAX_LABEL) for i, label in enumerate(labels)]
    # per language, what differs from the fallback (the worker sends each recipient its profile's language's)
    fallback = {"title": message["title"], "body": message["body"]}
    message["translations"] = {language: content for language, content in translations.items() if content != fallback}
    return {
        "group_id": group_id, "recipients": recipients, "count": total, "message": message,
        "template": template.pk if template else None,
    }  # fmt: skip
