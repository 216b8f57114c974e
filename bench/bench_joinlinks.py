"""Join-link recognition throughput: realistic invitations vs hostile input.

``python -m bench.bench_joinlinks [--repeat N]``

Realistic: 50 KB HTML/plain descriptions built from the test corpus's invitations (Outlook
SafeLinks-wrapped Teams body, Zoom and Webex bodies, an agenda full of document links), with
the join link at the very end so the whole field is read, and the same without any link.
Adversarial: 1 MB fields designed against regex engines and hand-written scanners (``https://``
repeated, nested brackets, runs of ``a.``, ``%`` and ``&`` sequences, one 1 MB URL, tens of
thousands of short URL-like tokens, SIP-looking runs). The ratio column is adversarial MB/s
over the realistic median MB/s; linear behaviour keeps it near or above a small constant,
while a backtracking engine would fall by orders of magnitude. Sizes are the whole field as
given; the recogniser reads at most 1 M characters and 2,000 URL-like tokens of a field and
skips tokens over 8 KB (see ``shared/joinlinks/cleanup.py``), which is part of what is measured.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from urllib.parse import quote

from bench.summary import record
from shared.joinlinks import find_join_link, find_sip_uris

KB, MB = 1024, 1024 * 1024
ZOOM = "https://us02web.zoom.us/j/81234567890?pwd=Q2xvY2tUb3dlcjEyMw.1"
TEAMS = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA4ZTJhYzYtMDk0Mi00NmVk%40thread.v2"
         "/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%7d")


def _safelinks(url: str) -> str:
    return ("https://nam12.safelinks.protection.outlook.com/?url=" + quote(url, safe="")
            + "&amp;data=05%7C02%7Canna%40acme.com%7C1c2d%7C0%7C638612345678901234&amp;"
              "sdata=AbCdEf%2B%3D&amp;reserved=0")


_AGENDA_ITEM = (
    '<p>Item {n}: review <a href="{doc}">the design doc</a> and '
    '<a href="https://acme.atlassian.net/browse/ENG-{n}">ENG-{n}</a>; owner anna@acme.com, '
    "call +1 425-555-0{n:03d} if blocked. Notes from last week &amp; follow-ups &ndash; see "
    "thread.</p>\n")
_PLAIN_ITEM = ("{n}. Dial by your location +1 301 715 8592 US (Washington DC) Meeting ID: 812 3456 "
               "7890 Passcode: 482913 Find your local number: https://us02web.zoom.us/u/kdX5bC{n}\n")


def _fill(item: str, size: int, wrap: bool) -> str:
    parts, n = [], 0
    while sum(map(len, parts)) < size:
        doc = f"https://docs.google.com/document/d/1AbC{n}/edit"
        parts.append(item.format(n=n % 1000, doc=_safelinks(doc) if wrap else doc))
        n += 1
    return "".join(parts)[:size]


def realistic() -> dict[str, str]:
    """50 KB descriptions, join link last (worst realistic case: the whole field is read)."""
    teams_tail = f'<a href="{_safelinks(TEAMS)}">Click here to join the meeting</a>'
    return {
        "html agenda, SafeLinks, Teams last": _fill(_AGENDA_ITEM, 50 * KB, True) + teams_tail,
        "html agenda, no meeting link": _fill(_AGENDA_ITEM, 50 * KB, False),
        "plain Zoom dial-in clutter, link last": _fill(_PLAIN_ITEM, 50 * KB, False) + ZOOM,
    }


def adversarial() -> dict[str, str]:
    """1 MB hostile fields."""
    def mb(unit: str) -> str:
        return (unit * (MB // len(unit) + 1))[:MB]
    return {
        "https:// repeated": mb("https://"),
        "nested brackets": "(" * (MB // 2) + ")" * (MB // 2),
        "nested <[( around a URL": mb("<[(\"'") + ZOOM + mb(")]>\"'")[: 10 * KB],
        "runs of a.": mb("a."),
        "runs of ab.": mb("ab."),
        "% sequences": mb("%"),
        "%25 sequences in a URL": "https://zoom.us/j/1?" + mb("%25"),
        "& and &amp; runs": mb("&amp;&"),
        "one 1 MB URL": "https://zoom.us/" + mb("a/"),
        "URL + 1 MB of trailing dots": ZOOM + mb("."),
        "URL + 1 MB of closing brackets": ZOOM + mb(")]"),
        "8 KB URLs ending in ))))": mb("https://zoom.us/j/1" + ")" * 8000 + " "),
        "1 MB host": "https://" + mb("a-b.") + "com/j/1",
        "short URL-like tokens": mb("ab.cd/x "),
        "vendor pages": mb("https://zoom.us/pricing "),
        "SafeLinks nested": mb(_safelinks("https://zoom.us/pricing") + " "),
        "sip-looking runs": mb("sip:a@b.webex.com "),
        "one 1 MB sip: URI": "sip:" + mb("a"),
        "@ and . runs": mb("a@a."),
        "unicode spaces and quotes": mb("\u00a0\u201chttps\u201d\u3002"),
    }


def _measure(call: Callable[[], object], size: int, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    best = statistics.median(times)
    return size / MB / best, 1 / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    rows: list[tuple[str, str, int, float, float]] = []
    for kind, inputs in (("realistic", realistic()), ("adversarial", adversarial())):
        for name, text in inputs.items():
            size = len(text.encode("utf-8"))
            mbs, calls = _measure(lambda text=text: (find_join_link(description=text),
                                                     find_sip_uris(text)), size, args.repeat)
            rows.append((kind, name, size, mbs, calls))
    baseline = statistics.median(r[3] for r in rows if r[0] == "realistic")
    print(f"{'input':<11} {'case':<40} {'size':>9} {'MB/s':>8} {'calls/s':>9} {'ratio':>7}")
    for kind, name, size, mbs, calls in rows:
        print(f"{kind:<11} {name:<40} {size:>9} {mbs:>8.1f} {calls:>9.1f} {mbs / baseline:>7.2f}")
    worst = min(r[3] for r in rows if r[0] == "adversarial")
    record("join-link scan, worst adversarial 1 MB input", f"{worst:.1f} MB/s",
           f"{baseline:.1f} MB/s (realistic median)", worst / baseline, "linear time (RE2)")
    print(f"\nrealistic median {baseline:.1f} MB/s; worst adversarial {worst:.1f} MB/s "
          f"(ratio {worst / baseline:.2f}). Each call = find_join_link + find_sip_uris on one field.")


if __name__ == "__main__":
    main()
