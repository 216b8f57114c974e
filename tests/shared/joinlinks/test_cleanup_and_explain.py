"""Cleanup details and the explanations the admin CLI prints."""

from __future__ import annotations

import io
import json

from shared.joinlinks import MAX_FIELD_CHARS, explain, find_join_link
from shared.joinlinks.__main__ import main
from shared.joinlinks.cleanup import MAX_CANDIDATES, strip, unescape

ZOOM = "https://us02web.zoom.us/j/81234567890?pwd=abc"


def test_strip_keeps_brackets_that_belong_to_the_url() -> None:
    assert strip("https://example.org/wiki/Foo_(bar)).") == "https://example.org/wiki/Foo_(bar)"


def test_named_entities_need_their_semicolon() -> None:
    assert unescape("a&amp;b &reserved=0 &lt;x&gt;") == "a&b &reserved=0 <x>"


def test_a_link_past_the_field_bound_is_not_read() -> None:
    padding = "x" * MAX_FIELD_CHARS
    assert find_join_link(description=padding + " " + ZOOM) is None
    assert find_join_link(description=ZOOM + " " + padding).url == ZOOM


def test_only_the_first_links_of_a_field_are_read_and_explain_says_so() -> None:
    clutter = " ".join(f"https://docs.example.com/{n}" for n in range(MAX_CANDIDATES))
    assert find_join_link(description=f"{ZOOM} {clutter}").url == ZOOM
    assert find_join_link(description=f"{clutter} {ZOOM}") is None
    notes = explain(description=f"{clutter} {ZOOM}").notes
    assert f"description: only the first {MAX_CANDIDATES} links were read" in notes


def test_explain_says_why_a_vendor_page_is_not_a_link() -> None:
    result = explain(description="Plans: https://zoom.us/pricing?utm=secret")
    assert result.link is None
    assert any("Zoom link but it is a page that is not a meeting link (zoom.us/pricing)" in note
               for note in result.notes)
    assert not any("secret" in note for note in result.notes)  # queries may hold passcodes


def test_explain_names_the_source_of_a_found_link() -> None:
    result = explain(location="Room 4", description=f"Join: {ZOOM}")
    assert result.link.source == "description"
    assert "location: 1 link(s), none is a meeting link" not in result.notes
    assert any(note.startswith("description: Zoom meeting link") for note in result.notes)


def _cli(stdin: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), stdin=io.StringIO(stdin), out=out)
    return status, out.getvalue()


def test_cli_reads_an_event_json_and_exits_0() -> None:
    event = {"location": "Room 4", "description": f"Join Zoom Meeting\n{ZOOM}\n",
             "conferenceData": {"entryPoints": [{"entryPointType": "sip",
                                                 "uri": "sip:81234567890@zoomcrc.com"}]}}
    status, out = _cli(json.dumps(event))
    assert status == 0
    assert f"join link: {ZOOM}" in out and "service:   zoom" in out
    assert "source:    description" in out and "sip:81234567890@zoomcrc.com" in out


def test_cli_reads_plain_text_and_explains_a_miss_with_exit_1() -> None:
    status, out = _cli("Our plans: https://zoom.us/pricing\n")
    assert status == 1
    assert "join link: none" in out
    assert "description: has a Zoom link but it is a page that is not a meeting link" in out


def test_cli_reads_a_file(tmp_path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"location": "https://meet.google.com/abc-defg-hij"}))
    status, out = _cli("", str(path))
    assert status == 0 and "service:   google-meet" in out and "source:    location" in out


def test_cli_rejects_bad_input_with_exit_2(tmp_path) -> None:
    assert _cli("{not json")[0] == 2
    assert _cli("[1, 2]")[0] == 2
    assert _cli('{"description": 5}')[0] == 2
    assert _cli("   ")[0] == 2
    assert _cli("", str(tmp_path / "missing.json"))[0] == 2
