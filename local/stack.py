"""The embedded stack: every entry point, the Workspace simulator and local adapters in one
process.

It is how ``make run`` works without a Google Cloud project and how the integration tests drive
the product end to end. Nothing below the entry points is special-cased: pushes travel over real
HTTP from the simulator to ``intake_push``; bus messages reach the Pub/Sub functions as
CloudEvents through functions-framework's own app; Google is reached through the real
google-auth and googleapiclient. Time is a :class:`~shared.clock.FakeClock` unless
``real_time=True``, so a week of watch renewals runs in a second.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from local.harness import Harness
from shared.bus.base import Message, Topics
from shared.bus.local import LocalBus
from shared.clock import Clock, FakeClock, SystemClock
from shared.config import Config
from shared.config import load as load_config

_LOGGER = logging.getLogger(__name__)

MAIN_SOURCE = Path(__file__).resolve().parent.parent / "main.py"
HTTP_FUNCTIONS = ("intake_push", "provision_users", "meetings_api")

# topic -> entry point consuming it (as deployed by infra/)
SUBSCRIPTIONS: dict[str, str] = {
    Topics.CALENDAR_CHANGES: "process_changes",
    Topics.PROVISIONING: "process_changes",
    Topics.RENEW_TICK: "renew_watches",
    Topics.RENEW_USER: "renew_watches",
    Topics.VACATION_TICK: "poll_vacations",
    Topics.VACATION_SHARD: "poll_vacations",
    Topics.NOTIFY_TICK: "dispatch_join_notifications",
}


@dataclass
class _Job:
    topic: str
    every: timedelta
    due: Any  # datetime


class HandlerCrashed(RuntimeError):
    """The chaos injector killed a handler invocation: Pub/Sub sees no acknowledgement and
    redelivers after the ack deadline, exactly as for an instance that died."""


class CrashInjector:
    """Kills ``rate`` of message-handler invocations at a random point (see
    :mod:`shared.failpoints`): the point is the *k*-th one the invocation reaches, *k* drawn
    uniformly from ``0 .. points - 1``; an invocation that reaches fewer dies before its ack.
    """

    def __init__(self, rate: float, seed: int, points: int = 8) -> None:
        import random

        self.rate, self.points = rate, points
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._armed: int | None = None
        self._seen = 0
        self.invocations = 0
        self.crashes: Counter = Counter()  # point -> crashes
        self.crashes_in: Counter = Counter()  # (entry point, point) -> crashes
        self._target = ""

    def begin(self, target: str) -> None:
        with self._lock:
            self.invocations += 1
            self._target = target
            self._seen = 0
            self._armed = (self._random.randrange(self.points)
                           if self._random.random() < self.rate else None)

    def end(self) -> None:
        with self._lock:
            self._armed = None
            self._target = ""

    @property
    def current(self) -> str:
        """The entry point whose invocation is running ("" between invocations)."""
        return self._target

    def __call__(self, point: str) -> None:
        from shared.failpoints import SimulatedCrash

        with self._lock:
            if self._armed is None:
                return
            if self._seen < self._armed and point != "handler.before_ack":
                self._seen += 1
                return
            self._armed = None
            self.crashes[point] += 1
            self.crashes_in[(self._target, point)] += 1
        raise SimulatedCrash(point)


LOCK_NAME = ".hybridcal.lock"


class DataDirInUse(RuntimeError):
    """Another stack (this process or another) holds the data directory: two stacks on one
    SQLite file and keyset would corrupt each other's state, and clearing it would pull the
    running one's data from under it."""

    def __init__(self, directory: Path, pid: str) -> None:
        super().__init__(f"{directory} is in use by another hybridcal stack (process {pid}); "
                         "stop that one, or give this one its own directory with --data-dir.")
        self.directory, self.pid = directory, pid


def claim_data_dir(directory: Path, *, fresh: bool = False) -> IO[str]:
    """Lock ``directory`` for this stack (an advisory ``flock``, released when the process
    ends, however it ends) and write our pid into the lock file for the next one to name;
    ``fresh`` then empties it. Raises :class:`DataDirInUse` naming the holder's pid."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    handle = (directory / LOCK_NAME).open("a+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise DataDirInUse(directory, pid) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    if fresh:
        for child in directory.iterdir():
            if child.name == LOCK_NAME:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    return handle


class NeverSettles(RuntimeError):
    """Work kept arriving: a handler loops, or a message is retried forever."""


class LocalStack(Harness):
    """See the module docstring; the public methods are the harness contract (issue #3)."""

    def __init__(
        self,
        *,
        data_dir: Path | str | None = None,
        real_time: bool = False,
        clock: Clock | None = None,
        env: dict[str, str] | None = None,
        scheduler: bool = True,
        webex_fake: bool = True,
        fresh: bool = False,
        delivery_seconds: float = 0.0,
    ) -> None:
        """``fresh`` empties ``data_dir`` once it is ours (``make run``: the simulated domain
        is new each run, so is its state); a directory another stack holds raises
        :class:`DataDirInUse` here, before anything in it is touched.

        ``delivery_seconds``: simulated time each Pub/Sub delivery takes (the fake clock moves
        on by it after the handler returns). 0 keeps every delivery of a settle at one instant,
        which tests rely on; a bench that measures what depends on time passing between
        deliveries (a sync's coverage of pushes received before it listed) models Google's
        latency with it."""
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hybridcal-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir).resolve()
        self._lock_file: IO[str] | None = claim_data_dir(self.data_dir, fresh=fresh)
        self.real_time = real_time
        self.clock: Clock = clock or (SystemClock() if real_time else FakeClock())
        self.delivery_seconds = delivery_seconds
        self._env = dict(env or {})
        self._scheduler_enabled = scheduler
        self._want_webex_fake = webex_fake
        self._jobs: list[_Job] = []
        self._lock = threading.RLock()
        self._started = False
        self._ids = itertools.count(1)
        self.admin_token = self._env.get("HYBRIDCAL_ADMIN_TOKEN") or secrets.token_urlsafe(16)
        # meetings_api's admin credential (HYBRIDCAL_API_TOKENS), whatever the admin token is
        self.api_admin_token = secrets.token_urlsafe(24)
        self.webex = None
        self._server = None
        self._loop_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.crash_injector: CrashInjector | None = None
        from shared.billing import Meter

        self.functions_meter = Meter()  # invocations and CPU seconds per entry point (billing())

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> LocalStack:
        from local.workspace_sim import WorkspaceSimulator

        if self._started:
            return self
        self.sim = WorkspaceSimulator(clock=self.clock)
        self.sim.start()
        if self._want_webex_fake:
            try:
                from local.webex_fake import WebexFake
            except ImportError:  # the Webex fake is optional for stacks that never schedule
                self.webex = None
            else:
                self.webex = WebexFake()
                self.webex.start()
        self._start_http()
        self.config = self._config()
        # the accounts workspaces need: an admin who shares rooms, a reader who reads them
        self.sim.add_user(self.config.workspace_admin or "", admin=True)
        self.sim.add_user(self.config.room_reader or "")
        if self.config.scheduling_account:  # organises the bookings made on room devices
            self.sim.add_user(self.config.scheduling_account)
        self.bus = LocalBus(self.clock)
        self.services = self._build_services()
        self._install()
        self._apps = self._function_apps()
        for topic, target in SUBSCRIPTIONS.items():
            self.bus.subscribe(
                f"{target}--{topic}", topic, self._deliverer(target),
                max_attempts=self.config.max_delivery_attempts + 1,
            )
        if self._scheduler_enabled:
            now = self.clock.now()
            self._jobs = [
                _Job(Topics.NOTIFY_TICK, timedelta(seconds=60), now + timedelta(seconds=60)),
                _Job(Topics.VACATION_TICK,
                     timedelta(seconds=self.config.vacation_interval_seconds),
                     now + timedelta(seconds=self.config.vacation_interval_seconds)),
                _Job(Topics.RENEW_TICK, timedelta(hours=1), now + timedelta(hours=1)),
            ]
        self._started = True
        if self.real_time:
            self._loop_thread = threading.Thread(target=self._real_time_loop, daemon=True,
                                                 name="hybridcal-local-loop")
            self._loop_thread.start()
        return self

    def close(self) -> None:
        from functions import _deps
        from shared import failpoints

        if self.crash_injector is not None:
            failpoints.install(None)
        self._stop.set()
        if self._loop_thread:
            self._loop_thread.join(timeout=5)
        if self._server:
            self._server.shutdown()
        if getattr(self, "sim", None):
            self.sim.stop()
        if self.webex:
            self.webex.stop()
        store_close = getattr(getattr(self, "services", None), "store", None)
        if store_close is not None and hasattr(store_close, "close"):
            store_close.close()
        _deps.install(None)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the data directory for the next stack
            self._lock_file = None
        if self._tmp:
            self._tmp.cleanup()
        self._started = False

    # -- the harness contract --------------------------------------------------------------------
    def add_user(self, email: str, *, locale: str = "en", timezone: str = "UTC",
                 suspended: bool = False) -> None:
        """A user in the simulated Workspace domain (not yet activated for hybridcal)."""
        self.sim.add_user(email, locale=locale, timezone=timezone, suspended=suspended)

    def calendar(self, email: str) -> Any:
        """A googleapiclient Calendar v3 Resource acting as ``email`` (like a calendar client)."""
        return self._client(email, "calendar")

    def gmail(self, email: str) -> Any:
        """A googleapiclient Gmail v1 Resource acting as ``email``."""
        return self._client(email, "gmail")

    def _client(self, email: str, api: str) -> Any:
        """The harness acts as a user the way the service does: delegation, one scope."""
        from shared.google import clients

        scope = clients.SCOPES[0] if api == "calendar" else clients.SCOPES[1]
        creds = clients.delegated_credentials(
            email, [scope], service_account_info=self.sim.service_account_info,
            token_uri=self.sim.token_uri,
        )
        build = clients.calendar_service if api == "calendar" else clients.gmail_service
        return build(creds, api_endpoint=self.sim.url)

    def now(self) -> Any:
        return self.clock.now()

    @property
    def faults(self) -> Any:
        return self.sim.faults

    def api_calls(self) -> Counter:
        return self.sim.api_calls()

    def published(self, topic: str) -> list[dict[str, Any]]:
        return [message.data for message in self.bus.published(topic)]

    def settle(self, *, max_rounds: int = 10_000, max_wait: timedelta = timedelta(hours=1)) -> None:
        """Deliver pushes and messages and run handlers until nothing is left to do.

        Retries back off in clock time, so settling may let simulated time pass (at most
        ``max_wait``); raises :class:`NeverSettles` if work never stops arriving.
        """
        with self._lock:
            waited = timedelta(0)
            for _ in range(max_rounds):
                pushed = self.sim.deliver_pushes()
                handled = self.bus.drain()
                if pushed or handled:
                    continue
                wait = self._next_wait()
                if wait is None:
                    return
                if self.real_time:
                    return  # the background loop picks it up when it is due
                if waited + wait > max_wait:
                    break
                waited += wait
                self.clock.advance(wait.total_seconds())
            raise NeverSettles(
                f"not settled: {self.bus.pending()} messages and {self.sim.pending_pushes()} "
                f"pushes still pending after {waited} of simulated waiting"
            )

    def crash_handlers(self, rate: float, *, seed: int = 0) -> CrashInjector:
        """Chaos mode: kill ``rate`` of message-handler invocations at random points (before
        and after side effects, before the ack); the bus redelivers them like Pub/Sub would."""
        from shared import failpoints

        self.crash_injector = CrashInjector(rate, seed)
        failpoints.install(self.crash_injector)
        return self.crash_injector

    def tick(self, topic: str) -> None:
        """Publish one scheduler tick now (e.g. a duplicate or late tick) and settle."""
        self._publish_tick(topic)
        self.settle()

    # -- features added by later issues (thin calls into shared/) --------------------------------
    def activate(self, email: str) -> str:
        """Activate and validate a user as an admin would; returns the resulting status."""
        from shared.users import provisioning

        status = provisioning.activate_now(self.services, email)
        self.settle()
        return status

    def api_token(self, principal: str) -> str:
        """A bearer token for ``meetings_api`` acting as ``user:EMAIL``, ``device:ROOM`` or
        ``admin`` (added to the running configuration, as an operator would add a secret)."""
        token = secrets.token_urlsafe(24)
        config = self.services.config
        self.services.config = config.replace(api_tokens={**config.api_tokens,
                                                          token: principal.lower()})
        return token

    def meetings(self, email: str) -> list[dict[str, Any]]:
        """The default meetings list of a user or workspace, through ``meetings_api``."""
        import requests

        answer = requests.get(f"{self.url('meetings_api')}/users/{email}/meetings", timeout=30,
                              headers={"Authorization": f"Bearer {self.api_admin_token}"})
        answer.raise_for_status()
        return answer.json()["meetings"]

    def add_room(self, email: str, name: str = "", timezone: str = "UTC") -> None:
        """A room resource calendar in the simulated domain (not yet a workspace)."""
        self.sim.add_room(email, name, timezone)

    def activate_workspace(self, room: str) -> str:
        """Activate a room as a workspace, as an admin would through ``provision_users``."""
        from shared.users.workspaces import activate_workspace

        status = activate_workspace(self.services, room)
        self.settle()
        return status

    def _publication_kek(self) -> Any:
        from shared.keys.local import LocalKeysetKek

        return LocalKeysetKek(self.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")

    def user_status(self, email: str) -> dict[str, Any]:
        from shared.users.status import user_status

        return user_status(self.services, email)

    # -- internals ----------------------------------------------------------------------------
    def _config(self) -> Config:
        host, port = self._server.server_address[:2]
        base = f"http://{host}:{port}"
        env = {
            "HYBRIDCAL_MODE": "embedded",
            "HYBRIDCAL_DATA_DIR": str(self.data_dir),
            "HYBRIDCAL_GOOGLE_API_ENDPOINT": self.sim.url,
            "HYBRIDCAL_TOKEN_URI": self.sim.token_uri,
            "HYBRIDCAL_INTAKE_URL": f"{base}/intake_push",
            "HYBRIDCAL_ADMIN_TOKEN": self.admin_token,
            "HYBRIDCAL_PSEUDONYM_KEY": "embedded-" + self.data_dir.name,
        }
        tokens = f"{self.api_admin_token}=admin"
        env["HYBRIDCAL_API_AUDIENCE"] = f"{base}/meetings_api"
        env["HYBRIDCAL_ID_TOKEN_CERTS_URL"] = self.sim.certs_url
        env["HYBRIDCAL_WORKSPACE_ADMIN"] = "admin@" + self.sim.domain
        env["HYBRIDCAL_ROOM_READER"] = "hybridcal-rooms@" + self.sim.domain
        env["HYBRIDCAL_SCHEDULING_ACCOUNT"] = "hybridcal-booking@" + self.sim.domain
        env["HYBRIDCAL_ORG_DOMAINS"] = self.sim.domain
        if self.webex is not None:
            env["HYBRIDCAL_WEBEX_API_URL"] = self.webex.url
            env["HYBRIDCAL_WEBEX_TOKEN"] = self.webex.token
        env.update(self._env)
        # tokens given in the environment are added to the stack's own admin credential
        env["HYBRIDCAL_API_TOKENS"] = ",".join(filter(None, (
            tokens, self._env.get("HYBRIDCAL_API_TOKENS", ""))))
        self.base_url = base
        return load_config(env)

    def url(self, function: str) -> str:
        """Where an HTTP entry point is served, e.g. ``url("meetings_api")``."""
        return f"{self.base_url}/{function}"

    def _build_services(self) -> Any:
        from shared.runtime import build_embedded

        def sleep(seconds: float) -> None:
            # Backoff passes simulated time: quota windows in the simulator move on too.
            if isinstance(self.clock, FakeClock):
                self.clock.advance(seconds)
            else:
                self._stop.wait(seconds)

        return build_embedded(
            self.config, clock=self.clock, bus=self.bus,
            service_account_info=self.sim.service_account_info, sleep=sleep,
        )

    def _install(self) -> None:
        from functions import _deps

        _deps.install(self.services)

    def _function_apps(self) -> dict[str, Any]:
        import functions_framework

        return {
            target: functions_framework.create_app(target, str(MAIN_SOURCE))
            for target in set(SUBSCRIPTIONS.values()) | set(HTTP_FUNCTIONS)
        }

    def _start_http(self) -> None:
        from werkzeug.serving import make_server

        from local.quiet import QuietHandler

        def app(environ: dict, start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            name, _, rest = path.lstrip("/").partition("/")
            target = self._apps.get(name) if name in HTTP_FUNCTIONS else None
            if target is None:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error":{"code":404,"message":"no such function"}}']
            environ = dict(environ)
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
            environ["PATH_INFO"] = "/" + rest
            with self._invocation(name):
                body = target(environ, start_response)
                try:
                    return [b"".join(body)]  # the handler's work, streamed bodies included
                finally:
                    getattr(body, "close", lambda: None)()

        self._server = make_server("127.0.0.1", 0, app, threaded=True,
                                   request_handler=QuietHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="hybridcal-functions-http").start()

    def _deliverer(self, target: str) -> Any:
        from shared.failpoints import SimulatedCrash

        def deliver(message: Message) -> None:
            injector = self.crash_injector
            if injector is None:
                return post(message)
            injector.begin(target)
            try:
                return post(message)
            except SimulatedCrash as crash:
                raise HandlerCrashed(f"{target} crashed at {crash.point}") from None
            finally:
                injector.end()

        def post(message: Message) -> None:
            try:
                with self._invocation(target):
                    return post_once(message)
            finally:
                if self.delivery_seconds and isinstance(self.clock, FakeClock):
                    self.clock.advance(self.delivery_seconds)

        def post_once(message: Message) -> None:
            client = self._apps[target].test_client()
            envelope = {
                "message": {
                    "data": base64.b64encode(message.encoded()).decode(),
                    "attributes": message.attributes,
                    "messageId": message.message_id,
                    "orderingKey": message.ordering_key,
                    "publishTime": self.clock.now().isoformat().replace("+00:00", "Z"),
                },
                "subscription": f"projects/local/subscriptions/{target}--{message.topic}",
                "deliveryAttempt": message.delivery_attempt,
            }
            response = client.post(
                "/",
                data=json.dumps(envelope),
                headers={
                    "Content-Type": "application/json",
                    "ce-id": message.message_id,
                    "ce-specversion": "1.0",
                    "ce-source": f"//pubsub.googleapis.com/projects/local/topics/{message.topic}",
                    "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                },
            )
            if response.status_code >= 300:
                raise RuntimeError(f"{target} answered {response.status_code}: redeliver")

        return deliver

    def _invocation(self, target: str) -> Any:
        """Count one invocation of ``target`` and the CPU time its thread spends in it
        (``time.thread_time``: the simulator, which stands for Google, runs in other threads)."""
        import contextlib
        import time

        from shared.billing import billed_instance_seconds

        meter = self.functions_meter

        @contextlib.contextmanager
        def counted() -> Any:
            started, wall = time.thread_time(), time.perf_counter()
            try:
                yield
            finally:
                cpu = time.thread_time() - started
                elapsed = time.perf_counter() - wall
                meter.add("functions.invocations", detail=target)
                meter.add("functions.cpu_seconds", cpu, detail=target)
                # Cloud Run bills instance time rounded up to 100 ms; counted per request, as
                # if each were alone on its instance (an upper bound; CloudStack's fronts
                # count overlapping requests once).
                meter.add("functions.billed_seconds", billed_instance_seconds(elapsed),
                          detail=target)

        return counted()

    def billing(self) -> Counter:
        """What Google would bill for the work so far (see ``docs/cost.md``): Firestore reads,
        writes and deletes, Pub/Sub messages and bytes, KMS calls, function invocations and CPU
        seconds, as totals and per collection, topic or entry point (``key:detail``)."""
        from shared.billing import total

        counts = self.services.billing()
        counts.update(total([self.functions_meter]))
        return counts

    def _next_wait(self) -> timedelta | None:
        now = self.clock.now()
        candidates = []
        due = self.bus.next_due()
        if due is not None:
            candidates.append(max(due - now, timedelta(seconds=0.001)))
        if self.sim.pending_pushes():
            push_due = getattr(self.sim, "next_push_due", lambda: None)()
            candidates.append(
                max(push_due - now, timedelta(seconds=0.001)) if push_due else timedelta(seconds=5)
            )
        return min(candidates) if candidates else None

    def _run_due_jobs(self) -> None:
        now = self.clock.now()
        for job in self._jobs:
            if job.due <= now:
                self._publish_tick(job.topic)
                while job.due <= now:
                    job.due += job.every

    def _publish_tick(self, topic: str) -> None:
        self.bus.publish(topic, {"scheduled_at": self.clock.now().isoformat()})

    def _real_time_loop(self) -> None:
        while not self._stop.wait(0.2):
            try:
                with self._lock:
                    self._run_due_jobs()
                    self.sim.deliver_pushes()
                    self.bus.drain()
            except Exception:
                _LOGGER.exception("embedded loop iteration failed; continuing")

    # -- presence (issue 9) ------------------------------------------------------------------
    def presence(self, email: str) -> dict[str, Any]:
        """The user's presence as the app sees it: ``status`` available | out_of_office."""
        from shared.presence import vacation as presence

        return presence.get_presence(self.services, self.services.pseudonym(email))
    # -- end presence (issue 9) --------------------------------------------------------------


def activate_all(stack: LocalStack, emails: Iterable[str]) -> dict[str, str]:
    """Activate several users; returns each one's status (used by the demo and benches)."""
    return {email: stack.activate(email) for email in emails}
