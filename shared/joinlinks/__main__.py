"""``python -m shared.joinlinks [FILE]``: why does (or doesn't) this event get a Join button?

Reads FILE, or stdin, holding either a Calendar v3 event as JSON (``conferenceData``,
``location`` and ``description`` are used) or plain invitation text (read as a description).
Prints the join link, its service and field, the SIP addresses, and one note per field or
rejected link. ``--org-domain`` (repeatable; default: ``HYBRIDCAL_ORG_DOMAINS``) names the
organisation's own domains, where self-hosted services' links count. Exit status: 0 a link
was found, 1 none, 2 the input could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from shared.joinlinks.finder import explain
from shared.joinlinks.sip import sip_uris_in_event

FOUND, NOT_FOUND, BAD_INPUT = 0, 1, 2


class BadInput(ValueError):
    """The input is neither an event JSON object nor text."""


def parse_input(raw: str) -> dict[str, Any]:
    """An event dict from a JSON object, or ``{"description": raw}`` for plain text."""
    if not raw.strip():
        raise BadInput("empty input")
    if raw.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise BadInput(f"not valid JSON: {error}") from None
        if not isinstance(value, Mapping):
            raise BadInput("JSON input must be one event object")
        for field in ("location", "description"):
            if value.get(field) is not None and not isinstance(value[field], str):
                raise BadInput(f"event.{field} must be a string")
        if value.get("conferenceData") is not None and not isinstance(
                value["conferenceData"], Mapping):
            raise BadInput("event.conferenceData must be an object")
        return dict(value)
    return {"description": raw}


def run(raw: str, out: TextIO, org_domains: Sequence[str] = ()) -> int:
    """Explain ``raw`` onto ``out``; returns the exit status."""
    try:
        event = parse_input(raw)
    except BadInput as error:
        print(f"bad input: {error}", file=out)
        return BAD_INPUT
    result = explain(event.get("conferenceData"), event.get("location"), event.get("description"),
                     org_domains=org_domains)
    if result.link:
        print(f"join link: {result.link.url}", file=out)
        print(f"service:   {result.link.service}", file=out)
        print(f"source:    {result.link.source}", file=out)
    else:
        print("join link: none", file=out)
    sips = sip_uris_in_event(event)
    if sips:
        print("sip:       " + ", ".join(sips), file=out)
    print("why:", file=out)
    for note in result.notes:
        print(f"  - {note}", file=out)
    return FOUND if result.link else NOT_FOUND


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None,
         out: TextIO | None = None) -> int:
    """Command-line entry point (arguments, stdin and stdout are injectable for tests)."""
    parser = argparse.ArgumentParser(prog="python -m shared.joinlinks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", help="event JSON or text file (default: stdin)")
    parser.add_argument("--org-domain", action="append", dest="org_domains", metavar="DOMAIN",
                        help="an organisation's own domain (default: HYBRIDCAL_ORG_DOMAINS)")
    args = parser.parse_args(argv)
    org_domains = [d.lower() for d in args.org_domains or os.environ.get(
        "HYBRIDCAL_ORG_DOMAINS", "").split(",") if d.strip()]
    out = out or sys.stdout
    try:
        if args.file:
            with open(args.file, encoding="utf-8") as handle:
                raw = handle.read()
        else:
            raw = (stdin or sys.stdin).read()
    except (OSError, UnicodeDecodeError) as error:
        print(f"bad input: cannot read: {error}", file=out)
        return BAD_INPUT
    return run(raw, out, org_domains)


if __name__ == "__main__":
    sys.exit(main())
