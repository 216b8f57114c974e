"""The werkzeug-backed router: endpoints and values, 404 and 405 with the allowed methods."""

from __future__ import annotations

import pytest

from shared.errors import MethodNotAllowed, NotFound
from shared.http.routing import Router

ROUTER = Router([
    ("POST", "/freebusy", "freebusy"),
    ("GET", "/users", "list_users"),
    ("POST", "/users:activate", "activate"),
    ("GET", "/users/<email>", "user"),
    ("GET", "/users/<email>/meetings", "list"),
    ("POST", "/users/<email>/meetings", "schedule"),
    ("GET", "/users/<email>/meetings/<event_id:event_id>", "get"),
    ("DELETE", "/users/<email>/meetings/<event_id:event_id>", "cancel"),
    ("POST", "/users/<email>/meetings/<event_id:event_id>:rsvp", "rsvp"),
], not_found="no such route", converters={"event_id": r"[A-Za-z0-9_-]{1,1024}"})


@pytest.mark.parametrize(("method", "path", "endpoint", "values"), [
    ("GET", "/users", "list_users", {}),
    ("GET", "/users/", "list_users", {}),  # a trailing slash is ignored
    ("POST", "/users:activate", "activate", {}),
    ("GET", "/users/ann@example.com", "user", {"email": "ann@example.com"}),
    ("GET", "/users/ann%40example.com", "user", {"email": "ann%40example.com"}),  # as given
    ("GET", "/users/ann@example.com/meetings", "list", {"email": "ann@example.com"}),
    ("POST", "/users/ann@example.com/meetings", "schedule", {"email": "ann@example.com"}),
    ("GET", "/users/a@b.c/meetings/ev_1-2", "get", {"email": "a@b.c", "event_id": "ev_1-2"}),
    ("DELETE", "/users/a@b.c/meetings/ev1", "cancel", {"email": "a@b.c", "event_id": "ev1"}),
    ("POST", "/users/a@b.c/meetings/ev1:rsvp", "rsvp", {"email": "a@b.c", "event_id": "ev1"}),
    ("post", "/freebusy", "freebusy", {}),
])
def test_routes_match_method_and_path_to_endpoint_and_values(method, path, endpoint, values):
    assert ROUTER.match(method, path) == (endpoint, values)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/users/ann@example.com/meetings", ("GET", "POST")),
    ("PATCH", "/users/ann@example.com/meetings", ("GET", "POST")),
    ("POST", "/users/ann@example.com/meetings/ev1", ("DELETE", "GET")),
    ("GET", "/users/ann@example.com/meetings/ev1:rsvp", ("POST",)),
    ("GET", "/users:activate", ("POST",)),  # the custom verb is not /users/<email>
    ("DELETE", "/users", ("GET",)),
    ("GET", "/freebusy", ("POST",)),
    ("HEAD", "/users", ("GET",)),  # werkzeug's automatic HEAD is not offered
    ("OPTIONS", "/users", ("GET",)),
])
def test_a_known_path_with_another_method_is_405_listing_the_allowed(method, path, allowed):
    with pytest.raises(MethodNotAllowed) as excinfo:
        ROUTER.match(method, path)

    assert excinfo.value.allowed == allowed
    assert "Allow" in str(excinfo.value)


@pytest.mark.parametrize("path", [
    "/", "", "/nowhere", "/users:deactivate", "/users/ann@example.com/elsewhere",
    "/users/ann@example.com/meetings/ev1:nope",  # another custom verb
    "/users/ann@example.com/meetings/ev:1",  # ':' is not part of an event id
    "/users/ann@example.com/meetings/" + "a" * 1025,  # longer than the converter allows
    "/users/../ben@example.com/meetings",  # a decoded %2F is a segment of its own
    "/users//meetings",  # an empty segment is no value
    "//users",  # werkzeug would strip the leading slashes and match /users
    "/users/ann@example.com//meetings",  # inner slashes are not merged (nor redirected)
    "users",
])
def test_an_unknown_path_is_404_with_the_given_message(path):
    with pytest.raises(NotFound, match="no such route"):
        ROUTER.match("GET", path)


def test_an_unknown_path_is_404_for_any_method():
    with pytest.raises(NotFound):
        ROUTER.match("DELETE", "/nowhere")
