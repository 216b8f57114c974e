"""The invitation corpus (``corpus/*.json``): real-looking invitations and the link a person
would click, or ``null`` when there is none.

Each case is ``{"id", "event": <Calendar v3 event subset>, "expect": {url, service, source}
| null}``, with ``"org_domains"`` where the organisation's own domains matter (self-hosted
services); the files group them (major services, wrapped links, cleanup, precedence,
negatives, long tail).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.joinlinks import JoinLink, find_in_event, find_join_link

CORPUS = Path(__file__).parent / "corpus"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(case, id=f"{path.stem}/{case['id']}"))
    return cases


CASES = _cases()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert sum(1 for case in CASES if case.values[0]["expect"] is None) >= 30


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    link = find_in_event(case["event"], org_domains=case.get("org_domains", ()))
    assert link == (JoinLink(**expect) if expect else None)


@pytest.mark.parametrize("case", [c for c in CASES if c.values[0]["expect"]][:40])
def test_keyword_interface_agrees_with_find_in_event(case: dict[str, Any]) -> None:
    event, org = case["event"], case.get("org_domains", ())
    assert find_join_link(conference_data=event.get("conferenceData"),
                          location=event.get("location"), description=event.get("description"),
                          org_domains=org) == find_in_event(event, org)
