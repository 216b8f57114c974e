"""What LocalStack and CloudStack share above their own plumbing.

Both harnesses keep the same contract (tests and the console run on either); what they do the
same way lives here once: moving the fake clock through the Scheduler jobs, booking a room as
its device does, opening the join notifications for display, and the page links the console
prints. Each harness supplies the primitives: ``settle``, ``_run_due_jobs``, ``api_token``,
``url``, ``published``, ``services`` and the key-encryption key that opens what was published.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import quote


class Harness:
    """Mixed into :class:`local.stack.LocalStack` and :class:`local.cloudstack.CloudStack`."""

    real_time: bool
    clock: Any
    sim: Any
    services: Any  # the store, the settings and the pseudonyms the harness observes
    _jobs: list[Any]
    _stop: threading.Event

    # -- supplied by each harness ---------------------------------------------------------------
    def settle(self) -> None:
        raise NotImplementedError

    def _run_due_jobs(self) -> None:
        raise NotImplementedError

    def _publication_kek(self) -> Any:
        """The key-encryption key that opens sealed published records (an operator's)."""
        raise NotImplementedError

    def api_token(self, principal: str) -> str:
        raise NotImplementedError

    def url(self, function: str) -> str:
        raise NotImplementedError

    def published(self, topic: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def billing(self) -> Any:
        """What Google would bill for the work so far: a ``collections.Counter`` with at least
        :data:`shared.billing.KEYS` (Firestore reads/writes/deletes, Pub/Sub messages and bytes,
        KMS calls, function invocations and CPU seconds), plus ``key:detail`` breakdowns per
        collection, topic and function. Each harness counts where its processes are."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------
    def advance(self, seconds: float = 0, **kwargs: float) -> None:
        """Move the clock, run the Scheduler jobs that fall due (in time order), then settle."""
        if self.real_time:
            raise RuntimeError("advance() needs the fake clock (real_time=False)")
        target = self.clock.now() + timedelta(seconds=seconds, **kwargs)
        self.settle()
        while True:
            due = min((job.due for job in self._jobs), default=None)
            if due is None or due > target:
                break
            if due > self.clock.now():
                self.clock.set(due)
            self._run_due_jobs()
            self.settle()
        if target > self.clock.now():
            self.clock.set(target)
        self.settle()

    def wait(self, seconds: float | None) -> bool:
        """Real time: wait up to ``seconds``, or until the stack is closing (answers True)."""
        return self._stop.wait(seconds)

    def page_url(self, email: str) -> str:
        """A link that opens ``email``'s meetings page (a user's agenda, or a room's board when
        ``email`` is a workspace) in a browser, with a credential of its own: ``user:EMAIL`` or
        ``device:ROOM``. The page trades it for its session on the first visit."""
        kind = "device" if self.sim.users.get(email.lower(), {}).get("room") else "user"
        token = self.api_token(f"{kind}:{email}")
        return (f"{self.url('meetings_api')}/users/{quote(email.lower(), safe='@')}/page"
                f"?access_token={quote(token)}")

    def book(self, room: str, minutes: int) -> tuple[int, dict[str, Any]]:
        """Book ``room`` from now for ``minutes``, as its device does; ``(status, answer)``."""
        import requests

        tokens: dict[str, str] = self.__dict__.setdefault("_booking_tokens", {})
        token = tokens.get(room) or self.api_token(f"device:{room}")
        tokens[room] = token
        answer = requests.post(f"{self.url('meetings_api')}/users/{room}/bookings", timeout=60,
                               json={"minutes": minutes},
                               headers={"Authorization": f"Bearer {token}"})
        self.settle()  # the room's calendar syncs: the booking reaches its list and board
        return answer.status_code, answer.json()

    def join_notifications(self, email: str | None = None) -> list[dict[str, Any]]:
        """The join notifications published so far (all, or ``email``'s), opened as the
        collaboration cloud opens them: ``{"email", "start", "title", "join_url", "sip_uri"}``."""
        from shared.bus.base import Topics
        from shared.crypto.sealer import open_published
        from shared.store import names

        kek = self._publication_kek()
        wanted = self.services.pseudonym(email) if email else None
        result = []
        for message in self.published(Topics.JOIN_NOTIFICATIONS):
            if wanted and message["user_id"] != wanted:
                continue
            user = self.services.store.get(names.USERS, message["user_id"]) or {}
            record = open_published({**message["sealed"], "user_id": message["user_id"]}, kek)
            result.append({"email": user.get("email", message["user_id"]),
                           "start": message["start"], **record})
        return result
