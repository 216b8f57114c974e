"""Join-details providers, the Webex ones against the local Webex REST fake."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from local.webex_fake import WebexFake
from shared.config import Config
from shared.keyword.providers import ProviderContext, generate, keyword_map

EVENT = {"id": "ev1", "summary": "Quarterly review",
         "start": {"dateTime": "2026-11-03T09:00:00Z"}, "end": {"dateTime": "2026-11-03T10:00:00Z"}}


@pytest.fixture
def webex():
    fake = WebexFake().start()
    yield fake
    fake.stop()


def _ctx(config: Config, user: dict | None = None) -> ProviderContext:
    services = SimpleNamespace(config=config)
    return ProviderContext(services=services, user_id="u_1", email="Anna.Berg@example.com",
                           user=user or {}, event=dict(EVENT))


def test_personal_room_from_site_template_and_user_setting() -> None:
    config = Config(webex_site="acme")
    details = generate(_ctx(config), "webex-personal-room")
    assert details.url == "https://acme.webex.com/meet/anna.berg"
    assert details.sip_uri == "anna.berg@acme.webex.com"
    named = generate(_ctx(config, {"webex_name": "annab"}), "webex-personal-room")
    assert named.url == "https://acme.webex.com/meet/annab"


def test_space_meeting_created_through_the_api(webex) -> None:
    config = Config(webex_api_url=webex.url, webex_token=webex.token)
    details = generate(_ctx(config), "webex-space")
    assert details.provider == "webex-space" and details.fallback_reason is None
    assert details.url.startswith("https://example.webex.com/")
    assert details.meeting_number and details.sip_uri.startswith(details.meeting_number)
    assert webex.calls["POST /v1/rooms"] == 1 and webex.calls["POST /v1/meetings"] == 1
    assert [r["title"] for r in webex.rooms.values()] == ["Quarterly review"]


@pytest.mark.parametrize("setup", ["no_token", "api_down", "bad_token"])
def test_space_meeting_falls_back_to_personal_room_with_reason(webex, setup, caplog) -> None:
    token = {"no_token": None, "bad_token": "wrong"}.get(setup, webex.token)
    if setup == "api_down":
        webex.fail_next(1, 503)
    config = Config(webex_api_url=webex.url, webex_token=token)
    with caplog.at_level(logging.WARNING):
        details = generate(_ctx(config), "webex-space")
    assert details.url == "https://example.webex.com/meet/anna.berg"
    assert details.fallback_reason
    assert any(getattr(r, "json_fields", {}).get("reason") == details.fallback_reason
               for r in caplog.records)


def test_jitsi_rooms_are_unguessable() -> None:
    config = Config()
    first = generate(_ctx(config), "jitsi")
    second = generate(_ctx(config), "jitsi:https://jitsi.acme.test/")
    assert first.url.startswith("https://meet.jit.si/hybridcal-")
    assert second.url.startswith("https://jitsi.acme.test/hybridcal-")
    assert len(first.url.rsplit("-", 1)[1]) == 32


def test_url_template_and_unknown_provider() -> None:
    config = Config()
    details = generate(_ctx(config), "url:https://video.acme.test/{name}/{event_id}")
    assert details.url == "https://video.acme.test/anna.berg/ev1"
    assert generate(_ctx(config), "url:http://insecure/{name}").fallback_reason
    assert generate(_ctx(config), "zoomish").fallback_reason == "unknown_provider"


def test_user_keywords_override_the_deployment() -> None:
    services = SimpleNamespace(config=Config())
    merged = keyword_map(services, {"keywords": {"@Meet": "jitsi", "bad": "x"}})
    assert merged == {"@webex": "webex-personal-room", "@meet": "jitsi"}
