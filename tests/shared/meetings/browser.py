"""Shared by the browser tests of the meetings pages: Debian's Chromium through Playwright,
axe-core from npm (``tests/browser``, installed by ``make browser``), screenshots as artefacts.

Screenshots go to ``$HYBRIDCAL_ARTIFACTS/screenshots`` (default ``tests/browser/artifacts``,
ignored by git and, being under ``tests/``, never deployed), so a run leaves them for people and
CI to look at; the ones in ``docs/img/`` were copied from there.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.clock import to_rfc3339

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
PHONE, DESKTOP, NARROW = (390, 844), (1280, 800), (320, 640)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (make browser installs it)")


def artefacts() -> Path:
    base = os.environ.get("HYBRIDCAL_ARTIFACTS") or ROOT / "tests" / "browser" / "artifacts"
    folder = Path(base) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox"])


def event(stack: Any, email: str, summary: str, *, minutes_from_now: float,
          length: int = 30, location: str = "@webex", **extra: Any) -> str:
    start = stack.now() + timedelta(minutes=minutes_from_now)
    body = {"summary": summary, "location": location,
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=length))}, **extra}
    return str(stack.calendar(email).events().insert(calendarId="primary", body=body,
                                                     sendUpdates="all").execute()["id"])


def screenshot(page: Any, name: str) -> Path:
    path = artefacts() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, path  # a real rendering, not a blank page
    return path


def serious_axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (WCAG 2.x A/AA rules
    and best practices, colour contrast included). The page's CSP admits only its own
    script, so the context running this was opened with ``bypass_csp``."""
    assert AXE.exists(), "axe-core missing: run `make browser` (npm install in tests/browser)"
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))""")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def small_targets(page: Any) -> list[str]:
    """Links and buttons a finger cannot hit: smaller than 44 x 44 CSS pixels."""
    small: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('a[href], button')]
             .filter(e => e.offsetParent !== null)
             .filter(e => { const r = e.getBoundingClientRect();
                            return r.width < 44 || r.height < 44; })
             .map(e => e.outerHTML.slice(0, 80))""")
    return small


def overflows(page: Any) -> bool:
    """True when the page scrolls sideways (content wider than the viewport), or text spills
    out of its box into its neighbour's (a time range over a title, a label past a button)."""
    return bool(page.evaluate(
        """() => document.documentElement.scrollWidth > document.documentElement.clientWidth
             || [...document.querySelectorAll('.when, .title, .state, a.join, button')]
                  .some(e => e.scrollWidth > e.clientWidth + 1)"""))
