"""Headline figures collected across the bench processes into one table (and the README).

Each ``bench_*.py`` prints its own detailed table and calls :func:`record` for the figures a
customer asks about, each with its baseline and the ratio to it. ``python -m bench`` points
``HYBRIDCAL_BENCH_SUMMARY`` at a file, runs every bench in its own process, then prints the
collected rows as one Markdown table; ``--readme`` also writes that table, with the date and
the machine, between the README's ``bench:start``/``bench:end`` markers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "HYBRIDCAL_BENCH_SUMMARY"


def record(figure: str, measured: str, baseline: str, ratio: float | None,
           note: str = "") -> None:
    """Add one headline row (no-op when a bench runs on its own)."""
    path = os.environ.get(ENV)
    if not path:
        return
    row = {"bench": Path(os.environ.get("HYBRIDCAL_BENCH_NAME", "")).name, "figure": figure,
           "measured": measured, "baseline": baseline, "ratio": ratio, "note": note}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def markdown(rows: list[dict]) -> str:
    lines = ["| bench | figure | measured | baseline | ratio | note |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "" if r["ratio"] is None else (f"{r['ratio']:.3g}" if r["ratio"] >= 0.001
                                               else f"{r['ratio']:.1e}")
        lines.append(f"| {r['bench'].removeprefix('bench_')} | {r['figure']} | {r['measured']} "
                     f"| {r['baseline']} | {ratio} | {r['note']} |")
    return "\n".join(lines)


def write_readme(readme: Path, header: str, table: str) -> None:
    """Replace the text between the markers; refuse (rather than append) if they are gone."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme.name} has no {start} ... {end} section to update")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    readme.write_text(f"{before}{start}\n{header}\n\n{table}\n{end}{after}", encoding="utf-8")
