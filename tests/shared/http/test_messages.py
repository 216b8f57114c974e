"""The one bearer-token parser every API uses."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from shared.http.messages import ApiRequest, bearer_token


@pytest.mark.parametrize(("value", "token"), [
    ("Bearer abc.def-ghi", "abc.def-ghi"),
    ("bearer abc", "abc"),  # the scheme is case-insensitive
    ("BEARER abc", "abc"),
    ("BeArEr abc", "abc"),
    ("Bearer    abc  ", "abc"),  # extra spaces after the scheme and at the end
    ("  Bearer abc", "abc"),
    ("Bearer \tabc\t", "abc"),
    ("Bearer", None),  # no token
    ("Bearer ", None),
    ("Bearer     ", None),
    ("", None),
    ("   ", None),
    ("Basic YW5uOnBhc3N3b3Jk", None),  # other schemes
    ("Token abc", None),
    ("Bearerabc", None),
    ("abc", None),
    ("Bearer\tabc", None),  # HTTP separates the scheme with a space
    ("Bearer\xa0abc", None),  # a latin-1 byte that Python calls whitespace is not a space
])
def test_bearer_token(value, token):
    assert bearer_token({"authorization": value}) == token


def test_bearer_token_without_the_header_is_none():
    assert bearer_token({}) is None
    assert bearer_token({"x-authorization": "Bearer abc"}) is None


def test_bearer_token_reads_case_insensitive_headers():
    assert bearer_token(Headers({"Authorization": "Bearer abc"})) == "abc"


def test_api_request_bearer_uses_the_same_parser():
    request = ApiRequest("GET", "/", headers={"authorization": "bearer  abc "})

    assert request.bearer() == "abc"
    assert ApiRequest("GET", "/", headers={"authorization": "Basic abc"}).bearer() is None
