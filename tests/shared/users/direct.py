"""The users modules driven directly, without the embedded stack (#22's fast mutation tests).

The real SQLite store, the local bus, a fake clock and the real google-auth and
google-api-python-client talking to the Workspace simulator, wired as ``LocalStack`` wires
them (``shared.runtime.build_embedded``); no HTTP entry points, no scheduler, no push delivery.
A renewal test then runs in milliseconds instead of seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.workspace_sim import WorkspaceSimulator
from shared.bus.local import LocalBus
from shared.clock import FakeClock
from shared.config import load as load_config
from shared.runtime import Services, build_embedded
from shared.store import names

INTAKE_URL = "https://hybridcal.example.com/intake_push"


@dataclass
class Seen:
    """One call that reached the simulator, with what the store held at that moment."""

    operation: str  # "watch" | "stop"
    channel_id: str
    caller: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    store_state: str | None = None  # the channel's recorded state when Google got the call
    live: tuple[str, ...] = ()  # the calendar's live channels at Google just before the call
    error: str = ""


class Env:
    def __init__(self, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        self.clock = FakeClock()
        self.sim = WorkspaceSimulator(clock=self.clock).start()
        self.config = load_config({
            "HYBRIDCAL_MODE": "embedded", "HYBRIDCAL_DATA_DIR": str(tmp_path / "data"),
            "HYBRIDCAL_GOOGLE_API_ENDPOINT": self.sim.url,
            "HYBRIDCAL_TOKEN_URI": self.sim.token_uri, "HYBRIDCAL_INTAKE_URL": INTAKE_URL,
            "HYBRIDCAL_PSEUDONYM_KEY": "direct-tests-pseudonym-key",
            "HYBRIDCAL_WORKSPACE_ADMIN": "admin@" + self.sim.domain,
            "HYBRIDCAL_ROOM_READER": "hybridcal-rooms@" + self.sim.domain,
            **(env or {})})
        self.sim.add_user(self.config.workspace_admin or "", admin=True)
        self.sim.add_user(self.config.room_reader or "")
        self.bus = LocalBus(self.clock)
        self.services: Services = build_embedded(
            self.config, clock=self.clock, bus=self.bus,
            service_account_info=self.sim.service_account_info, sleep=self.clock.advance)
        self.seen: list[Seen] = []
        self._observe()

    def close(self) -> None:
        # the simulator's server notices a shutdown within half a second: not worth waiting for
        threading.Thread(target=self.sim.stop, daemon=True).start()
        self.services.store.close()  # type: ignore[attr-defined]

    def now(self) -> Any:
        return self.clock.now()

    def user_id(self, email: str) -> str:
        return self.services.pseudonym(email)

    def channels(self, user_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Our records of channels (of ``user_id``), by id."""
        return {k: d for k, d in self.services.store.query(names.CHANNELS)
                if user_id is None or d.get("user_id") == user_id}

    def live_at_google(self, calendar: str) -> list[str]:
        return [c["id"] for c in self.sim.channels()
                if c["calendar"] == calendar and not c["stopped"] and c["expiration"] > self.now()]

    def operations(self) -> list[str]:
        return [s.operation for s in self.seen]

    def during_watch(self, action: Callable[[str, dict[str, Any]], None]) -> None:
        """Run ``action(channel_id, body)`` when the next ``events.watch`` reaches Google,
        before Google answers (what an early ``sync`` push or a crash would see)."""
        self._hooks.append(action)

    def _observe(self) -> None:
        """Wrap the simulator's own channel operations to see their order (nothing faked:
        each call still runs the simulator's code and answers what it would have)."""
        from local.workspace_sim.errors import ApiError

        state = self.sim.calendar_state
        watch, stop = state.watch, state.stop
        self._hooks: list[Callable[[str, dict[str, Any]], None]] = []

        def recorded(channel_id: str) -> str | None:
            doc = self.services.store.get(names.CHANNELS, channel_id)
            return None if doc is None else str(doc.get("state"))

        def observed_watch(caller: str, calendar_id: str, body: dict[str, Any]) -> Any:
            seen = Seen("watch", str(body.get("id")), caller, dict(body),
                        recorded(str(body.get("id"))))
            self.seen.append(seen)
            while self._hooks:
                self._hooks.pop(0)(str(body.get("id")), body)
            try:
                return watch(caller, calendar_id, body)
            except ApiError as exc:
                seen.error = exc.reason
                raise

        def observed_stop(body: dict[str, Any]) -> Any:
            channel = state.channels.get(str(body.get("id", "")))
            live = tuple(self.live_at_google(channel.calendar)) if channel else ()
            seen = Seen("stop", str(body.get("id")), "", dict(body),
                        recorded(str(body.get("id"))), live)
            self.seen.append(seen)
            try:
                return stop(body)
            except ApiError as exc:
                seen.error = exc.reason
                raise

        state.watch = observed_watch  # type: ignore[method-assign]
        state.stop = observed_stop  # type: ignore[method-assign]

