"""The chaos day's oracle is independent of the product and sees what the product gets wrong.

``local.chaos_oracle`` computes what each user's meetings index must hold from the simulator's
events alone (#22): if it used the product's code, a bug there would be on both sides of the
comparison. These tests pin its independence (its imports) and its rules on events shaped as
the scripted day makes them, including the cancelled ones the old check skipped.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from local import chaos_oracle
from local.chaos_oracle import BLOCK_BEGIN, Truth, differences, truth

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def test_the_oracle_imports_nothing_from_the_product():
    tree = ast.parse(Path(chaos_oracle.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported, "the oracle imports something (re, datetime): the walk must find it"
    assert not {name for name in imported if name.split(".")[0] in ("shared", "functions",
                                                                   "local", "main")}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") in ("__import__", "import_module")]


def test_the_block_delimiter_it_copies_is_the_one_the_product_writes():
    from shared.keyword import joinblock  # the test may look; the oracle may not

    assert BLOCK_BEGIN == joinblock.BEGIN


def _event(event_id, minute, *, description="Agenda", location="", status="confirmed"):
    start = DAY + timedelta(minutes=minute)
    return {"id": event_id, "status": status, "description": description,
            "location": location,
            "start": {"dateTime": start.astimezone(UTC).isoformat()},
            "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()}}


WEBEX = "https://example.webex.com/meet/user0001"
ZOOM = "https://zoom.us/j/1234567890?pwd=x"


def test_join_urls_come_from_our_block_then_the_scripted_zoom_link_else_none():
    events = [
        _event("kw", 600, description=f"Agenda\n\n{BLOCK_BEGIN}\nJoin: {WEBEX}\nend",
               location=WEBEX),
        _event("zoom", 630, description=f"Agenda\n{ZOOM}"),
        _event("room", 660, location="Room 7"),
        _event("gone", 690, status="cancelled"),
        _event("later", 60 * 24 * 5),  # after the compared window
    ]
    expected = truth(events, DAY, DAY + timedelta(days=4))
    assert expected.records == {"kw": ("2026-11-30T10:00:00Z", WEBEX),
                                "zoom": ("2026-11-30T10:30:00Z", ZOOM),
                                "room": ("2026-11-30T11:00:00Z", None)}
    assert expected.absent == {"gone"}


def test_it_reports_a_cancelled_meeting_still_indexed_and_a_record_marked_cancelled():
    expected = Truth({"a": ("2026-11-30T10:00:00Z", None)}, frozenset({"gone"}))
    assert differences(expected, {"a": ("2026-11-30T10:00:00Z", None, "confirmed")}) == []
    assert differences(expected, {"a": ("2026-11-30T10:00:00Z", None, "confirmed"),
                                  "gone": ("2026-11-30T11:00:00Z", None, "confirmed")}) == [
        "gone: cancelled, still indexed"]
    assert differences(expected, {"a": ("2026-11-30T10:00:00Z", None, "cancelled")})


def test_it_reports_a_missing_meeting_a_wrong_link_and_a_wrong_time():
    expected = Truth({"a": ("2026-11-30T10:00:00Z", ZOOM)}, frozenset())
    assert differences(expected, {}) == ["a: missing"]
    assert differences(expected, {"a": ("2026-11-30T10:00:00Z", None, "confirmed")})
    assert differences(expected, {"a": ("2026-11-30T10:15:00Z", ZOOM, "confirmed")})
    assert differences(expected, {"a": ("2026-11-30T10:00:00Z", ZOOM, "confirmed"),
                                  "x": ("2026-11-30T10:00:00Z", None, "confirmed")}) == [
        "x: not on the calendar"]
