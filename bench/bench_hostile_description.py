"""Per-event description work: a 1 MB hostile description against a normal 1 MB one.

``python -m bench.bench_hostile_description [--repeat N]``

Every time an event changes, processing reads its description: the keyword decision looks for
our join block (``decide``), a write replaces the block (``write_body``) and a removal strips it
(``remove_body``), and the meetings index finds the join details (``join_details``: our block
first, then the join-link scan). Issue #19: the block was found with a lazy ``BEGIN.*?END``
regex, and a description of 16,000 copies of the start delimiter (800 KB) stalled processing
for 69.5 s, and each later edit of that event for 38 s. The scan is now plain ``str.find``.

The baseline is a normal 1 MB description (an agenda with links, our block at the end); the
hostile ones are as large or larger and built against the block scan (runs of either
delimiter, alternations, near-misses). The ratio column is hostile time over baseline time:
linear behaviour keeps it near 1, a quadratic scan would be thousands. A reference row runs
the old regex on 1,000 start delimiters (a sixteenth of the #19 input), to show what the ratio
looked like.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.summary import record
from shared.keyword import event_patch, joinblock
from shared.keyword.keywords import find_keyword
from shared.keyword.providers.base import JoinDetails
from shared.meetings.index import join_details

MB = 1024 * 1024
URL = "https://example.webex.com/meet/ann"
KEYWORDS = {"@webex": "webex-personal-room", "@meet": "webex-space"}
BLOCK = "\n".join([joinblock.BEGIN, "Join the Webex meeting:", URL,
                   "Join from a video system (SIP):", "ann@example.webex.com", joinblock.END])
_AGENDA = ("Item {n}: review https://docs.google.com/document/d/1AbC{n}/edit and the notes from "
           "last week; owner anna@acme.com, call +1 425-555-0{n:03d} if blocked.\n")


def _fill(unit: str, size: int = MB) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def normal() -> str:
    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < MB - len(BLOCK) - 2:
        parts.append(_AGENDA.format(n=n % 1000))
        n += 1
    return "".join(parts)[:MB - len(BLOCK) - 2] + "\n\n" + BLOCK


def hostile() -> dict[str, str]:
    begin, end = joinblock.BEGIN, joinblock.END
    return {
        "16,000 start delimiters (800 KB, the #19 case)": begin * 16_000,
        "start delimiters, 1 MB": _fill(begin),
        "start delimiters, 1 MB, then our block": _fill(begin) + "\n\n" + BLOCK,
        "end delimiters, 1 MB": _fill(end),
        "start/end alternating, 1 MB": _fill(begin + end),
        "start, 1 MB of text, no end": begin + _fill("x"),
        "near-miss delimiters, 1 MB": _fill(begin[:-1] + " " + end[1:]),
        "start + URL runs, 1 MB": _fill(begin + " https://example.webex.com/meet/"),
    }


def old_regex_find(description: str) -> None:
    """The block search #19 replaced, for the reference row only."""
    pattern = re.compile(re.escape(joinblock.BEGIN) + ".*?" + re.escape(joinblock.END),
                         re.DOTALL)
    pattern.search(description)


def _event(description: str) -> dict[str, Any]:
    """An event that carries our marker (so the block paths run) and a keyword in Location."""
    return {"id": "e1", "summary": "Weekly", "location": "Room 4 @webex",
            "description": description, "status": "confirmed",
            "extendedProperties": {"private": {event_patch.KEY_HASH: "0" * 32}}}


def process(description: str) -> None:
    """The description work one change of one event costs, as processing does it."""
    event = _event(description)
    event_patch.decide(event, KEYWORDS)
    match = find_keyword(event["location"], KEYWORDS)
    assert match is not None
    details = JoinDetails(url=URL, service="webex", service_name="Webex",
                          provider="webex-personal-room")
    event_patch.write_body(event, match, details, BLOCK)
    event_patch.remove_body(event)
    join_details(event)


def _measure(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    text = normal()
    baseline = _measure(lambda: process(text), args.repeat)
    print(f"{'description':<48} {'size':>9} {'ms/event':>9} {'ratio':>7}")
    print(f"{'normal agenda, our block last (baseline)':<48} {len(text.encode()):>9} "
          f"{baseline * 1000:>9.1f} {1:>7.2f}")
    worst_name, worst = "", 0.0
    for name, description in hostile().items():
        seconds = _measure(lambda d=description: process(d), args.repeat)
        print(f"{name:<48} {len(description.encode()):>9} {seconds * 1000:>9.1f} "
              f"{seconds / baseline:>7.2f}")
        if seconds > worst:
            worst_name, worst = name, seconds
    reference = joinblock.BEGIN * 1_000
    seconds = _measure(lambda: old_regex_find(reference), args.repeat)
    print(f"{'reference: old BEGIN.*?END regex, 1,000 starts':<48} "
          f"{len(reference.encode()):>9} {seconds * 1000:>9.1f} {seconds / baseline:>7.2f}")
    record("1 MB hostile description, per event", f"{worst * 1000:.0f} ms",
           f"{baseline * 1000:.0f} ms (normal 1 MB)", worst / baseline,
           f"worst: {worst_name}; was 69.5 s (#19)")
    print(f"\nnormal {baseline * 1000:.1f} ms per event; worst hostile {worst * 1000:.1f} ms "
          f"({worst_name}), ratio {worst / baseline:.2f}. Each event = decide + write_body + "
          "remove_body + join_details on its description.")


if __name__ == "__main__":
    main()
