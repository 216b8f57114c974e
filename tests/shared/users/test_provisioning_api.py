"""The admin API over real HTTP against the embedded stack."""

from __future__ import annotations

import requests


def _call(stack, method, path, token="admin", **kwargs):
    headers = {"Authorization": f"Bearer {stack.admin_token if token == 'admin' else token}"}
    if token is None:
        headers = {}
    return requests.request(method, stack.url("provision_users") + path, headers=headers,
                            timeout=30, **kwargs)


def test_activate_show_list_and_deactivate(stack):
    stack.add_user("ann@example.com")
    stack.add_user("sus@example.com", suspended=True)
    answer = _call(stack, "POST", "/users:activate",
                   json={"emails": ["ann@example.com", "sus@example.com"]})
    assert answer.status_code == 200
    assert answer.json()["results"] == {"ann@example.com": "active", "sus@example.com": "error"}
    shown = _call(stack, "GET", "/users/sus@example.com").json()
    assert shown["reason_code"] == "user_suspended"
    errors = _call(stack, "GET", "/users", params={"status": "error"}).json()["users"]
    assert [u["email"] for u in errors] == ["sus@example.com"]
    gone = _call(stack, "POST", "/users:deactivate", json={"emails": ["ann@example.com"]})
    assert gone.json()["results"] == {"ann@example.com": "deactivated"}


def test_large_batch_is_queued_and_processed_asynchronously(stack):
    emails = [f"user{i}@example.com" for i in range(120)]
    for email in emails:
        stack.add_user(email)
    answer = _call(stack, "POST", "/users:activate", json={"emails": emails})
    assert answer.status_code == 202
    assert answer.json() == {"queued": 120, "batches": 2}
    stack.settle()
    active = _call(stack, "GET", "/users", params={"status": "active"}).json()
    assert len(active["users"]) == 100 and "next_page_token" in active
    rest = _call(stack, "GET", "/users", params={"status": "active",
                                                 "page_token": active["next_page_token"]})
    assert len(rest.json()["users"]) == 20


def test_auth_and_bad_input_get_json_errors(stack):
    assert _call(stack, "GET", "/users", token=None).status_code == 401
    assert _call(stack, "GET", "/users", token="wrong").status_code == 403
    bad = _call(stack, "POST", "/users:activate", data=b"{not json")
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]["message"]
    assert _call(stack, "POST", "/users:activate", json={"emails": "x"}).status_code == 400
    assert _call(stack, "GET", "/users", params={"status": "odd"}).status_code == 400
    assert _call(stack, "GET", "/users/nobody@example.com").status_code == 404


def test_revalidate_turns_a_fixed_error_into_active_and_leaves_others_alone(stack):
    stack.add_user("ann@example.com")
    stack.add_user("cat@example.com")
    stack.sim.set_calendar_writable("cat@example.com", False)
    first = _call(stack, "POST", "/users:activate",
                  json={"emails": ["ann@example.com", "cat@example.com"]})
    assert first.json()["results"] == {"ann@example.com": "active", "cat@example.com": "error"}
    still = _call(stack, "POST", "/users:revalidate", json={"emails": ["cat@example.com"]})
    assert still.status_code == 200 and still.json()["results"] == {"cat@example.com": "error"}

    stack.sim.set_calendar_writable("cat@example.com", True)
    answer = _call(stack, "POST", "/users:revalidate",
                   json={"emails": ["Cat@Example.com", "ann@example.com", "new@example.com"]})
    assert answer.status_code == 200
    assert answer.json()["results"] == {"cat@example.com": "active",
                                        "ann@example.com": "active",
                                        "new@example.com": "unknown"}
    assert _call(stack, "GET", "/users/cat@example.com").json()["status"] == "active"
    assert _call(stack, "GET", "/users", params={"status": "error"}).json()["users"] == []


def test_revalidate_checks_auth_and_input(stack):
    body = {"emails": ["ann@example.com"]}
    assert _call(stack, "POST", "/users:revalidate", token=None, json=body).status_code == 401
    assert _call(stack, "POST", "/users:revalidate", token="wrong", json=body).status_code == 403
    assert _call(stack, "POST", "/users:revalidate", json={"emails": []}).status_code == 400
    many = {"emails": [f"u{i}@example.com" for i in range(51)]}
    too_many = _call(stack, "POST", "/users:revalidate", json=many)
    assert too_many.status_code == 400 and "50" in too_many.json()["error"]["message"]


def test_a_wrong_method_is_405_with_allow_and_an_unknown_path_404(stack):
    stack.add_user("ann@example.com")
    assert stack.activate("ann@example.com") == "active"
    wrong = [
        ("DELETE", "/users", "GET"),
        ("PUT", "/users:activate", "POST"),
        ("GET", "/users:deactivate", "POST"),
        ("GET", "/users:revalidate", "POST"),
        ("GET", "/workspaces:activate", "POST"),
        ("DELETE", "/users/ann@example.com", "GET"),
        ("HEAD", "/users", "GET"),
    ]
    for method, path, allowed in wrong:
        answer = _call(stack, method, path)
        assert (answer.status_code, answer.headers.get("Allow")) == (405, allowed), path
        if method != "HEAD":  # the same JSON error shape as every other refusal
            error = answer.json()["error"]
            assert set(error) == {"code", "message"} and error["code"] == 405
    for path in ("/admin", "/users:explode", "/users/ann@example.com/more", "/workspaces"):
        answer = _call(stack, "GET", path)
        assert answer.status_code == 404 and "Allow" not in answer.headers, path
        assert answer.json()["error"]["code"] == 404
    # The admin token is checked before the route: no credentials is 401 on any method.
    assert _call(stack, "DELETE", "/users", token=None).status_code == 401
    shown = _call(stack, "GET", "/users/ann%40example.com")
    assert shown.status_code == 200 and shown.json()["status"] == "active"
