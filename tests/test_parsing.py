"""Bodies into events: JSON objects and arrays, and form bodies in PHP bracket notation."""

import pytest

from channels_app.parsing import BodyError, parse_events


def form(text):
    return parse_events(text.encode(), "application/x-www-form-urlencoded", "json")


def test_php_bracket_keys_become_nested_objects_and_arrays():
    (event,) = form(
        "callDetails[employeeData][email]=a%40b.example&callDetails[historyData][0][billsec]=12"
        "&callDetails[historyData][1][billsec]=3&plain=1"
    )
    assert event == {
        "callDetails": {"employeeData": {"email": "a@b.example"}, "historyData": [{"billsec": "12"}, {"billsec": "3"}]},
        "plain": "1",
    }


def test_empty_brackets_append_and_gaps_keep_an_object():
    (event,) = form("tags[]=a&tags[]=b&sparse[0]=x&sparse[2]=y")
    assert event == {"tags": ["a", "b"], "sparse": {"0": "x", "2": "y"}}


def test_keys_that_only_look_like_brackets_are_kept_as_sent():
    (event,) = form("a]b=1&c[d=2&e[f]g=3")
    assert event == {"a]b": "1", "c[d": "2", "e[f]g": "3"}


def test_a_repeated_form_key_keeps_the_last_value():
    assert form("status=ringing&status=answered") == [{"status": "answered"}]


def test_json_object_and_array_bodies():
    assert parse_events(b'{"a": 1}', "application/json", "form") == [{"a": 1}]
    assert parse_events(b'[{"a": 1}, {"a": 2}]', "application/vnd.api+json", "form") == [{"a": 1}, {"a": 2}]
    assert parse_events('\ufeff{"a": 1}'.encode(), "", "json") == [{"a": 1}], "a UTF-8 byte order mark is fine"


@pytest.mark.parametrize("body", [b"[{}, 1]", b"null", b"3", b"   "])
def test_bodies_that_hold_no_events_are_refused(body):
    with pytest.raises(BodyError):
        parse_events(body, "application/json", "json")
