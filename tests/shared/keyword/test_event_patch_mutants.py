"""Join details patched into an organizer's event, driven directly (#22), found by mutation
testing of shared/keyword/event_patch.py.

``apply_keyword`` runs on the real google-api-python-client against the Workspace simulator
(the wiring LocalStack uses, without the stack around it) and, for space meetings, the local
Webex fake. What a user would notice: the link in Location, the block in their language, date
and zone, their own text and concurrent edits kept, events Google refuses left alone, and how
many patches Google got. The same rules run end to end in tests/shared/changes/test_processing*
and test_user_text_between_delimiters.py; these are fast enough for the module's mutation run
(mutation/config.toml).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.webex_fake import WebexFake
from local.workspace_sim import WorkspaceSimulator
from local.workspace_sim.faults import Faults
from shared.bus.local import LocalBus
from shared.clock import FakeClock, to_rfc3339
from shared.config import Config
from shared.errors import TransientError
from shared.keyword import event_patch, joinblock
from shared.runtime import build_embedded
from tests.direct import SimulatedBackoff, running_simulator, workspace_factory

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEYWORDS = {"@webex": "webex-personal-room", "@meet": "webex-space"}
# As every release so far has written them into users' events (a later release must still
# recognise them), spelled out rather than imported.
BEGIN = "-::~:~::~:~:~ hybridcal join details ~:~:~::~:~::-"
END = "-::~:~::~:~:~ end of hybridcal join details ~:~:~::~:~::-"
MARKERS = ("hybridcal_keyword", "hybridcal_provider", "hybridcal_hash")
ENGLISH_TAIL = ["Join details added on November 30, 2026, 12:00:00\u202fPM UTC.",
                "To change them, type another keyword in Location; to remove them, delete the "
                "link from Location.", END]
_people = itertools.count(1)


_backoff = SimulatedBackoff(NOW)


@pytest.fixture(scope="module")
def sim() -> Iterator[WorkspaceSimulator]:
    yield from running_simulator(NOW)


@pytest.fixture(scope="module")
def factory(sim: WorkspaceSimulator) -> Any:
    return workspace_factory(sim, _backoff)


@pytest.fixture(scope="module")
def webex() -> Iterator[WebexFake]:
    fake = WebexFake(site="acme").start()
    yield fake
    fake.stop()


class Organizer:
    """One user of the service on the shared simulator, with the service's view of them."""

    def __init__(self, sim: WorkspaceSimulator, factory: Any, webex: WebexFake, data_dir: Path,
                 **config: Any) -> None:
        self.sim = sim
        self.clock = FakeClock(NOW)
        sim.clock = _backoff.clock = self.clock
        sim.faults = Faults()
        sim.meet_pending = False
        self.email = f"anna{next(_people)}@example.com"
        sim.add_user(self.email)
        settings = {"data_dir": str(data_dir), "webex_site": "acme",
                    "webex_api_url": webex.url, "webex_token": webex.token, **config}
        self.services = build_embedded(Config(**settings), clock=self.clock,
                                       bus=LocalBus(self.clock),
                                       service_account_info=sim.service_account_info,
                                       sleep=_backoff)
        self.services.workspace = factory
        self.gateway = factory.calendar(self.email)
        self.user: dict[str, Any] = {"email": self.email, "locale": "en", "timezone": "UTC"}
        self.room = f"https://acme.webex.com/meet/{self.email.split('@')[0]}"

    # -- what the user does in their own calendar client ----------------------------------------
    def call(self, operation: str, event_id: str | None = None,
             body: dict[str, Any] | None = None) -> Any:
        params = {"cal": "primary", **({"eid": event_id} if event_id else {})}
        return self.sim.user_call(self.email, operation, params, body)

    def create(self, location: str, description: str = "Agenda", **extra: Any) -> dict[str, Any]:
        start = NOW + timedelta(hours=2)
        return dict(self.call("calendar.events.insert", body={
            "summary": "Plan", "location": location, "description": description,
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(hours=1))}, **extra}))

    def edit(self, event_id: str, **changes: Any) -> None:
        self.call("calendar.events.patch", event_id, changes)

    def event(self, event_id: str) -> dict[str, Any]:
        return dict(self.call("calendar.events.get", event_id))

    # -- the service ----------------------------------------------------------------------------
    def apply(self, event: dict[str, Any], keywords: dict[str, str] = KEYWORDS
              ) -> tuple[dict[str, Any], int, int]:
        """apply_keyword on ``event``: the event it answers, the patches it counted, and the
        patches Google got."""
        before = self.sim.api_calls()["calendar.events.patch"]
        after, counted = event_patch.apply_keyword(self.services, self.gateway, "u-anna",
                                                   self.user, event, keywords)
        return after, counted, self.sim.api_calls()["calendar.events.patch"] - before

    def around_each_patch(self, before: Callable[[], None] = lambda: None,
                          after: Callable[[], None] = lambda: None) -> None:
        """Run ``before`` (the user editing) whenever the service's patch reaches Google,
        before Google looks at it, and ``after`` once Google has answered it: the
        simulator's own patch still decides the answer."""
        state = self.sim.calendar_state
        original = state.patch
        busy = []

        def patched(caller: str, *args: Any, **kwargs: Any) -> Any:
            if busy:  # the user's own edits from the hooks
                return original(caller, *args, **kwargs)
            busy.append(True)
            try:
                before()
                try:
                    return original(caller, *args, **kwargs)
                finally:
                    after()
            finally:
                busy.clear()

        state.patch = patched  # type: ignore[method-assign]
        self._restore = lambda: setattr(state, "patch", original)

    def close(self) -> None:
        getattr(self, "_restore", lambda: None)()
        self.services.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def anna(sim, factory, webex, tmp_path) -> Iterator[Organizer]:
    running = Organizer(sim, factory, webex, tmp_path)
    yield running
    running.close()


def _private(event: dict[str, Any]) -> dict[str, str]:
    return dict((event.get("extendedProperties") or {}).get("private") or {})


def _block(event: dict[str, Any]) -> list[str]:
    description = event.get("description") or ""
    return description[description.index(BEGIN):].splitlines() if BEGIN in description else []


# -- writing -------------------------------------------------------------------------------------

def test_a_keyword_becomes_the_link_and_a_block_in_one_patch(anna):
    event = anna.create("Room 4, @webex; floor 2",
                        extendedProperties={"private": {"crm": "42"}})

    answered, counted, sent = anna.apply(event)

    stored = anna.event(event["id"])
    assert (counted, sent) == (1, 1)
    assert answered["etag"] == stored["etag"] and answered["location"] == stored["location"]
    assert stored["location"] == f"Room 4, {anna.room}; floor 2"
    assert stored["description"].startswith(f"Agenda\n\n{BEGIN}\n")
    name = anna.email.split("@")[0]
    assert _block(stored) == [BEGIN, "Join the Webex meeting:", anna.room,
                              "Join from a video system (SIP):", f"{name}@acme.webex.com",
                              *ENGLISH_TAIL]
    block = joinblock.find(stored["description"]) or ""
    assert _private(stored) == {
        "crm": "42", "hybridcal_keyword": "@webex", "hybridcal_provider": "webex-personal-room",
        # the marker events carry: the first 32 hex digits of the block's SHA-256
        "hybridcal_hash": hashlib.sha256(block.encode()).hexdigest()[:32]}


def test_the_block_speaks_the_users_language_and_dates_in_their_zone(anna):
    anna.user.update(locale="de", timezone="Europe/Berlin")
    event = anna.create("@webex")

    anna.apply(event)

    lines = _block(anna.event(event["id"]))
    assert lines[1] == "An der Webex-Besprechung teilnehmen:"
    assert "Einwahldaten hinzugefügt am 30. November 2026, 13:00:00 MEZ." in lines


def test_the_organisations_locale_wins_over_the_users(sim, factory, webex, tmp_path):
    anna = Organizer(sim, factory, webex, tmp_path, org_locale="fr")
    try:
        anna.user.update(locale="de", timezone="Europe/Paris")
        event = anna.create("@webex")
        anna.apply(event)
        lines = _block(anna.event(event["id"]))
        assert lines[1] == "Rejoindre la réunion Webex :"
        assert any("30 novembre 2026" in line and "13:00:00" in line for line in lines)
    finally:
        anna.close()


def test_the_users_personal_room_name_is_used(anna):
    anna.user["webex_name"] = "Anna.B"
    event = anna.create("@webex")

    anna.apply(event)

    assert anna.event(event["id"])["location"] == "https://acme.webex.com/meet/anna.b"


def test_a_space_meeting_block_names_its_number_and_sip_address(anna, webex):
    event = anna.create("@meet")

    anna.apply(event)

    stored = anna.event(event["id"])
    [meeting] = [m for m in webex.meetings.values() if m["webLink"] == stored["location"]]
    lines = _block(stored)
    assert lines[:5] == [BEGIN, "Join the Webex meeting:", meeting["webLink"],
                         "Join from a video system (SIP):", meeting["sipAddress"]]
    assert lines[5] == f"Meeting number: {meeting['meetingNumber']}"
    assert _private(stored)["hybridcal_provider"] == "webex-space"


def test_a_google_meet_keyword_writes_the_conference_link(anna):
    event = anna.create("@gmeet", description="")

    _, counted, sent = anna.apply(event, {"@gmeet": "google-meet"})

    stored = anna.event(event["id"])
    assert stored["location"].startswith("https://meet.google.com/")
    assert _block(stored)[1:3] == ["Join the Google Meet meeting:", stored["location"]]
    assert stored["description"].startswith(BEGIN)
    assert (counted, sent) == (1, 2)  # the conference request, then the join details


def test_a_pending_meet_conference_writes_nothing_yet(anna):
    anna.sim.meet_pending = True
    event = anna.create("@gmeet")

    _, counted, sent = anna.apply(event, {"@gmeet": "google-meet"})

    stored = anna.event(event["id"])
    assert counted == 0 and sent == 1  # only the conference request
    assert stored["location"] == "@gmeet" and stored["description"] == "Agenda"
    assert not _private(stored)


def test_the_event_coming_back_patched_needs_no_second_patch(anna):
    event = anna.create("Room 4, @webex")
    patched, _, _ = anna.apply(event)

    again, counted, sent = anna.apply(patched)

    assert (counted, sent) == (0, 0)
    assert again == patched


# -- removing ------------------------------------------------------------------------------------

def test_deleting_the_link_from_location_removes_block_and_markers(anna):
    event = anna.create("Room 4, @webex", extendedProperties={"private": {"crm": "42"}})
    anna.apply(event)
    anna.edit(event["id"], location="Room 4")

    answered, counted, sent = anna.apply(anna.event(event["id"]))

    stored = anna.event(event["id"])
    assert (counted, sent) == (1, 1)
    assert stored["description"] == "Agenda" and stored["location"] == "Room 4"
    assert _private(stored) == {"crm": "42"}
    assert answered["etag"] == stored["etag"]


def test_a_block_an_earlier_release_wrote_is_removed_with_its_markers(anna):
    old = f"{BEGIN}\nJoin the Webex meeting:\nhttps://acme.webex.com/meet/old\n{END}"
    event = anna.create("Room 4", description=f"Notes\n\n{old}", extendedProperties={
        "private": {"hybridcal_keyword": "@webex", "hybridcal_provider": "webex-personal-room",
                    "hybridcal_hash": "0" * 32}})

    anna.apply(event)

    stored = anna.event(event["id"])
    assert stored["description"] == "Notes"
    assert not set(_private(stored)) & set(MARKERS)


@pytest.mark.parametrize("pasted", [
    "call the front desk first", "old link: https://acme.webex.com/meet/someone-else"])
def test_delimiters_pasted_without_our_markers_are_the_users_text(anna, pasted):
    description = f"Agenda\n\n{BEGIN}\n{pasted}\n{END}\nThanks!"
    event = anna.create("Room 4", description=description,
                        extendedProperties={"shared": {"hybridcal_hash": "x"}})

    _, counted, sent = anna.apply(event)

    assert (counted, sent) == (0, 0)
    assert anna.event(event["id"])["description"] == description


def test_a_block_whose_link_the_user_deleted_goes_once_location_has_no_link(anna):
    event = anna.create("Room 4, @webex")
    patched, _, _ = anna.apply(event)
    description = patched["description"].replace(anna.room, "(link removed)")
    anna.edit(event["id"], description=description, location="Room 4")

    anna.apply(anna.event(event["id"]))

    stored = anna.event(event["id"])
    assert stored["description"] == "Agenda" and not _private(stored)


# -- concurrent edits and refusals ----------------------------------------------------------------

def test_an_edit_made_while_we_patch_is_kept(anna):
    event = anna.create("@webex")
    anna.edit(event["id"], description="Agenda v2", summary="Plan B")

    answered, counted, sent = anna.apply(event)  # our copy predates the edit: Google says 412

    stored = anna.event(event["id"])
    assert (counted, sent) == (2, 2)
    assert stored["summary"] == "Plan B"
    assert stored["description"].startswith(f"Agenda v2\n\n{BEGIN}")
    assert stored["location"] == anna.room and answered["etag"] == stored["etag"]


def test_a_keyword_removed_while_we_patch_is_not_written_back(anna):
    event = anna.create("@webex")
    anna.edit(event["id"], location="Room 5")

    answered, counted, sent = anna.apply(event)

    stored = anna.event(event["id"])
    assert (counted, sent) == (1, 1)
    assert stored["location"] == "Room 5" and stored["description"] == "Agenda"
    assert answered["location"] == "Room 5" and answered["etag"] == stored["etag"]


def test_an_event_deleted_before_we_patch_is_skipped(anna):
    event = anna.create("@webex")
    anna.call("calendar.events.delete", event["id"])

    answered, counted, sent = anna.apply(dict(event))

    assert (counted, sent) == (1, 1)
    assert answered["location"] == "@webex"  # the copy we had: nothing more to learn
    assert anna.event(event["id"])["status"] == "cancelled"


def test_an_event_edited_then_deleted_while_we_patch_is_skipped(anna):
    event = anna.create("@webex")
    anna.edit(event["id"], summary="Plan B")  # our copy is stale: Google answers 412
    anna.around_each_patch(after=lambda: anna.call("calendar.events.delete", event["id"]))

    answered, counted, sent = anna.apply(event)

    assert (counted, sent) == (1, 1)
    assert answered["status"] == "cancelled" and answered["summary"] == "Plan B"
    assert answered["etag"] == anna.event(event["id"])["etag"]


def test_a_user_who_keeps_editing_gets_a_retry_later_after_four_tries(anna):
    event = anna.create("@webex")
    edits = itertools.count(1)
    anna.around_each_patch(before=lambda: anna.edit(event["id"], summary=f"Plan {next(edits)}"))
    before = anna.sim.api_calls()["calendar.events.patch"]

    with pytest.raises(TransientError):
        anna.apply(event)

    stored = anna.event(event["id"])
    assert anna.sim.api_calls()["calendar.events.patch"] - before == 4
    assert stored["summary"] == "Plan 4" and stored["location"] == "@webex"


def test_an_event_created_from_gmail_is_not_even_tried(anna):
    event = anna.sim.add_gmail_event(anna.email, {
        "summary": "Flight", "location": "@webex",
        "start": {"dateTime": to_rfc3339(NOW + timedelta(days=1))},
        "end": {"dateTime": to_rfc3339(NOW + timedelta(days=1, hours=2))}})
    event = anna.event(event["id"])

    answered, counted, sent = anna.apply(event)

    assert (counted, sent) == (0, 0)
    assert answered == event == anna.event(event["id"])


def test_an_event_google_refuses_to_change_is_skipped_and_the_sync_goes_on(anna):
    anna.sim.faults.set(refused_patch=1.0)
    event = anna.create("@webex")

    answered, counted, sent = anna.apply(event)

    assert (counted, sent) == (1, 1)
    assert answered == event
    assert anna.event(event["id"])["location"] == "@webex"


# -- the rules on events as Google returns them ---------------------------------------------------

@pytest.mark.parametrize(("organizer", "email", "mine"), [
    ({"email": "Anna@Example.com"}, "anna@example.com", True),
    ({"email": "bob@example.com"}, "anna@example.com", False),
    ({"email": "anna@example.com", "self": False}, "anna@example.com", False),
    ({"email": "room@resource.example.com", "self": True}, "anna@example.com", True),
    ({}, "anna@example.com", False),
])
def test_only_the_organizers_copy_is_theirs(organizer, email, mine):
    assert event_patch.is_organizer_copy({"organizer": organizer}, email) is mine


def test_an_event_without_our_markers_needs_nothing():
    block = f"{BEGIN}\nhttps://acme.webex.com/meet/x\n{END}"
    for props in (None, {}, {"shared": {"hybridcal_hash": "x"}}, {"private": None},
                  {"private": {"crm": "42"}}):
        event = {"location": "Room 4", "description": block, "extendedProperties": props}
        assert event_patch.decide(event, KEYWORDS) is None
        assert event_patch.markers(event) == ((props or {}).get("private") or {})


def test_no_location_at_all_with_our_block_means_the_link_was_removed():
    event = {"description": f"{BEGIN}\nhttps://acme.webex.com/meet/x\n{END}",
             "extendedProperties": {"private": {"hybridcal_hash": "x"}}}
    decision = event_patch.decide(event, KEYWORDS)
    assert decision is not None and decision.action == "remove" and decision.match is None


# -- the link we wrote before, when a keyword is typed again ---------------------------------------

@pytest.mark.parametrize("where", ["Room 4, ", ""])
def test_typing_the_keyword_again_next_to_our_link_leaves_one_link(anna, where):
    event = anna.create(f"{where}@webex")
    patched, _, _ = anna.apply(event)
    anna.edit(event["id"], location=patched["location"] + " @webex")

    anna.apply(anna.event(event["id"]))

    assert anna.event(event["id"])["location"] == f"{where}{anna.room}"


def test_a_new_link_that_extends_the_old_one_is_written_whole(anna):
    """Switching to a provider whose link starts with the old one (a team room under the
    Personal Room's address), the keyword typed before the old link: the old link goes, the
    new one stays intact."""
    keywords = {**KEYWORDS, "@team": "url:https://acme.webex.com/meet/{name}-team"}
    event = anna.create("Room 4, @webex")
    patched, _, _ = anna.apply(event, keywords)
    anna.edit(event["id"], location="@team, " + patched["location"])

    anna.apply(anna.event(event["id"]), keywords)

    stored = anna.event(event["id"])
    assert stored["location"] == f"{anna.room}-team, Room 4"
    assert joinblock.url_in(joinblock.find(stored["description"])) == f"{anna.room}-team"


def test_a_space_meeting_the_webex_api_cannot_create_falls_back_to_the_personal_room(
        anna, webex, caplog):
    """The user still gets a working link; support can tell whose meeting fell back and why
    from the warning (which names the user by pseudonym only)."""
    webex.fail_next(1, 503)
    event = anna.create("@meet")

    with caplog.at_level(logging.WARNING):
        anna.apply(event)

    stored = anna.event(event["id"])
    assert stored["location"] == anna.room
    assert _private(stored)["hybridcal_provider"] == "webex-space>webex-personal-room"
    [warning] = [r for r in caplog.records if getattr(r, "json_fields", {}).get("reason")]
    assert warning.json_fields["user"] == "u-anna"  # type: ignore[attr-defined]
    assert anna.email not in caplog.text


def test_a_users_own_keyword_for_an_unknown_provider_gets_the_personal_room(anna):
    """A user's keyword overrides may name any provider; an unknown one falls back to the
    Personal Room, and the provider marker is cut to Google's 1,024-character limit for a
    private property value (a longer one would have the whole patch refused)."""
    provider = "zoom-" + "x" * 1100
    event = anna.create("@zoom")

    _, counted, _ = anna.apply(event, {**KEYWORDS, "@zoom": provider})

    stored = anna.event(event["id"])
    assert counted == 1 and stored["location"] == anna.room
    marker = _private(stored)["hybridcal_provider"]
    assert len(marker) == 1024 and marker == f"{provider}>webex-personal-room"[:1024]


def test_every_copy_of_our_old_link_goes_on_a_switch(anna):
    """The user left our link in Location more than once (pasted around the keyword): none of
    them stays beside the new link, and their own text and the new link are whole."""
    keywords = {**KEYWORDS, "@team": "url:https://acme.webex.com/meet/{name}-team"}
    event = anna.create("@webex")
    old, _, _ = anna.apply(event, keywords)
    link = old["location"]
    anna.edit(event["id"], location=f"{link}; Room 4, {link} @team, {link}")

    anna.apply(anna.event(event["id"]), keywords)

    assert anna.event(event["id"])["location"] == f"Room 4, {link}-team"


def test_a_keyword_typed_right_after_our_old_link_replaces_it(anna):
    """A link ending in "/" is a boundary, so a keyword typed against it counts; the old
    link before it still goes."""
    keywords = {**KEYWORDS, "@video": "url:https://video.acme.test/{name}/"}
    event = anna.create("@video")
    old, _, _ = anna.apply(event, keywords)
    anna.edit(event["id"], location=old["location"] + "@webex")

    anna.apply(anna.event(event["id"]), keywords)

    assert anna.event(event["id"])["location"] == anna.room
