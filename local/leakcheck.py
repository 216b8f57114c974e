"""Looking for user text where it must never be: the data rule's end-to-end check.

Used by the plaintext-guarantee test and by the chaos run: both plant unique markers in titles,
descriptions, locations, attendee addresses and vacation responders, then search every byte the
service persisted, every message it published (dead letters included) and every log line.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from shared.bus.base import encode


def persisted_bytes(stack: Any) -> bytes:
    """Every file under the data dir: SQLite database, WAL, keysets."""
    return b"".join(path.read_bytes() for path in sorted(stack.data_dir.rglob("*"))
                    if path.is_file())


def published_bytes(stack: Any) -> bytes:
    """Data and attributes of every message published on any topic, dead letters included."""
    return b"".join(encode(m.data) + encode(m.attributes) for topic in stack.bus.topics()
                    for m in stack.bus.published(topic))


def leaks(haystacks: Mapping[str, bytes], markers: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(where, marker name)`` for each marker found, case-insensitively."""
    lowered = {where: data.lower() for where, data in haystacks.items()}
    return [(where, name) for where, data in lowered.items() for name, marker in markers.items()
            if marker.lower().encode() in data]


class MarkerScanningStream(io.TextIOBase):
    """A log stream that keeps no log text: it counts lines and remembers which markers it saw.

    A chaos run logs hundreds of megabytes; scanning as the lines are written keeps the check
    complete without holding them.
    """

    def __init__(self, markers: Mapping[str, str]) -> None:
        super().__init__()
        self._markers = {name: marker.lower() for name, marker in markers.items()}
        self.found: set[str] = set()
        self.lines = 0
        self.characters = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        self.characters += len(text)
        lowered = text.lower()
        for name, marker in self._markers.items():
            if marker in lowered:
                self.found.add(name)
        return len(text)

    def leaks(self, where: str = "logs") -> list[tuple[str, str]]:
        return [(where, name) for name in sorted(self.found)]


def all_leaks(stack: Any, markers: Mapping[str, str], *, logs: MarkerScanningStream,
              extra: Iterable[tuple[str, bytes]] = ()) -> list[tuple[str, str]]:
    """Persisted, published and logged text (plus any ``extra`` haystacks) searched at once."""
    haystacks = {"persisted": persisted_bytes(stack), "published": published_bytes(stack),
                 **dict(extra)}
    return leaks(haystacks, markers) + logs.leaks()
