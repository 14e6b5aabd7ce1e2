"""The identifier rules, on their own: what names a profile, and the message when something cannot."""

from __future__ import annotations

import pytest

from batchhub.profiles.identifiers import (
    MAX_CUSTOM_ID,
    MAX_INSTALLATION_ID,
    IdentifierError,
    custom_id_check,
    installation_id_check,
)

pytestmark = pytest.mark.portable


@pytest.mark.parametrize("value", ["alice", " alice ", "42", "é" * MAX_CUSTOM_ID, "a:b/c@d"])
def test_a_custom_id_is_returned_as_sent(value):
    assert custom_id_check(value, "id") == value


@pytest.mark.parametrize("value", [None, 42, ["alice"], "", "   ", "\t\n", "\x1c"])
def test_a_custom_id_is_a_non_empty_string(value):
    with pytest.raises(IdentifierError) as refused:
        custom_id_check(value, "[3].id")
    assert refused.value.message == "[3].id must be a non-empty string (the custom user id)."


def test_a_custom_id_holds_at_most_512_characters():
    assert MAX_CUSTOM_ID == 512
    with pytest.raises(IdentifierError) as refused:
        custom_id_check("x" * (MAX_CUSTOM_ID + 1), "custom user id")
    assert refused.value.message == "custom user id is longer than 512 characters."


@pytest.mark.parametrize(
    ("value", "fault"),
    [("al\x00ice", "a NUL character (\\u0000)"), ("al\ud800ice", "an unpaired UTF-16 surrogate")],
)
def test_an_identifier_that_cannot_be_stored_is_refused_naming_why(value, fault):
    for check in (custom_id_check, installation_id_check):
        with pytest.raises(IdentifierError) as refused:
            check(value, "where")
        assert refused.value.message == f"where contains {fault}."


@pytest.mark.parametrize("value", ["i", " inst-1 ", "x" * MAX_INSTALLATION_ID])
def test_an_installation_id_is_returned_as_sent(value):
    assert installation_id_check(value, "installation_id") == value


@pytest.mark.parametrize("value", [None, 7, {"id": "x"}, "", "  ", "x" * (MAX_INSTALLATION_ID + 1)])
def test_an_installation_id_is_1_to_64_characters(value):
    assert MAX_INSTALLATION_ID == 64
    with pytest.raises(IdentifierError) as refused:
        installation_id_check(value, "installation_id")
    assert refused.value.message == "installation_id is 1 to 64 characters."


def test_an_identifier_error_is_a_value_error_carrying_its_message():
    error = IdentifierError("id is wrong.")
    assert isinstance(error, ValueError)
    assert (error.message, str(error)) == ("id is wrong.", "id is wrong.")
