"""Runbook request bodies are read strictly: JSON objects of known fields, configured regions
once each; everything else is runbook.bad_request with a message that says what to send."""

from __future__ import annotations

import pytest

from kvdr.request_body import RequestError, json_object, region_list

REGIONS = ("east", "west")


@pytest.mark.parametrize(("raw", "says"), [
    (b"not json", "is not JSON; send {}"),
    (b"[1]", "must be a JSON object; send {}"),
    (b'{"x": 1}', "unknown field(s) x; allowed: a, b"),
    # deeper than json.loads can recurse: was a RecursionError, a 500 from every starter
    (b"[" * 100_000, "nested too deeply; send {}"),
])
def test_a_body_that_is_not_an_object_of_known_fields_is_refused(raw: bytes, says: str
                                                                 ) -> None:
    with pytest.raises(RequestError) as caught:
        json_object(raw, ("a", "b"), example="{}")
    assert caught.value.code == "runbook.bad_request" and says in caught.value.message


def test_an_empty_body_is_none_unless_required_and_null_fields_are_absent() -> None:
    assert json_object(b"  ", ("a",), example="{}") is None
    with pytest.raises(RequestError, match="send a JSON body"):
        json_object(b"", ("a",), example="{}", required=True)
    assert json_object(b'{"a": null, "b": 2}', ("a", "b"), example="{}") == {"b": 2}


@pytest.mark.parametrize(("value", "says"), [
    ("west", "non-empty JSON array"), ([], "non-empty JSON array"), ([1], "non-empty JSON array"),
    (["mars"], "unknown target region(s) mars"), (["west", "west"], "lists a region twice"),
])
def test_a_region_list_names_configured_regions_once(value: object, says: str) -> None:
    with pytest.raises(RequestError, match=says.replace("(", r"\(").replace(")", r"\)")):
        region_list(value, REGIONS)
    assert region_list(["west"], REGIONS) == ("west",)
