"""``local.CloudStack``: the deployed topology of ``infra/`` on one machine.

Where :class:`local.LocalStack` runs every entry point in one process over SQLite and an
in-process bus, CloudStack runs what Terraform deploys:

- **every function resource** of ``infra/`` (ten, from seven entry points) in its own process,
  served by functions-framework's gunicorn server with the threads Terraform's concurrency
  gives it (``THREADS``; one instance per function), with the environment and secrets
  Terraform gives it (``HYBRIDCAL_MODE=cloud``) and addresses pointed at local services;
- **Google's Firestore and Pub/Sub emulators** (``local.emulators``), with every topic and
  subscription (push endpoints, ordering, ack deadlines, retry and dead-letter policies) and
  every Cloud Scheduler job created from the plan (:mod:`local.cloudstack.terraform`);
- **Cloud KMS** = ``local/kms_fake.py``, **Google Workspace** = the simulator, the **Webex**
  API = ``local/webex_fake.py``;
- **identities and IAM as declared**: each process gets its service account's tokens from a
  metadata server of its own; publishing (a gRPC proxy per identity), KMS, IAM Credentials
  ``signBlob``/``signJwt``, secret access and Cloud Run invocation are checked against the
  plan's grants, and what they refuse is :meth:`CloudStack.iam_denials`;
- **Cloud Run's front** per function (:mod:`local.cloudstack.front`);
- **one clock**: a :class:`~shared.clock.FakeClock` the harness moves and mirrors to a file
  every function reads (``HYBRIDCAL_CLOCK_FILE``), so :meth:`advance` works as in LocalStack.

Addresses are the only thing the harness changes in Terraform's environment (its "DNS"):
``HYBRIDCAL_GOOGLE_API_ENDPOINT``, ``HYBRIDCAL_TOKEN_URI``, ``HYBRIDCAL_ID_TOKEN_CERTS_URL``
(the simulator), ``HYBRIDCAL_INTAKE_URL`` (intake's front), ``HYBRIDCAL_WEBEX_API_URL``,
``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST`` (the identity's publish proxy) and
``GCE_METADATA_HOST``; see :mod:`local.cloudstack.instance` for KMS and IAM Credentials.

Differences from Google found while building it (each handled as noted):

- The Pub/Sub emulator implements dead-letter policies (after ``max_delivery_attempts`` it
  publishes to the dead-letter topic with ``CloudPubSubDeadLetterSource*`` attributes) and
  retry policies (backoff in real time: a first retry after ~1 s, then growing towards the
  policy's bounds). CloudStack creates retry policies with the plan's backoffs multiplied by
  ``retry_scale`` (0.1: Terraform's 10 s minimum becomes 1 s of waiting) and, while only
  retries are pending, moves the fake clock by the plan's unscaled backoff, as LocalStack's
  bus does, but exponentially (minimum x 2^(attempts-1), up to the maximum) as
  Pub/Sub's retry policy backs off.
- Dead-lettering from an *ordered* subscription kills the emulator's push loop for it (a
  ``NullPointerException`` in ``MessageBacklog.pull``: nothing is delivered any more, the
  following messages neither). Ordered subscriptions (``calendar-changes``) are therefore
  created without their dead-letter policy and the front applies it: after the last failed
  attempt it publishes the message to the dead-letter topic with Pub/Sub's
  ``CloudPubSubDeadLetterSource*`` attributes and acknowledges it.
- The emulator accepts ``push_config.oidc_token`` but sends no ``Authorization`` header, and
  leaves ``deliveryAttempt`` and ``message.orderingKey`` out of push bodies (ordering itself
  is honoured): the front fills all three in (see :mod:`local.cloudstack.front`).
- The emulator checks no IAM and the Firestore emulator none either; ``datastore.user`` is
  granted to every function by ``infra/`` and checked once, at deployment.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from local.cloudstack import cron
from local.cloudstack.front import Front, FrontConfig
from local.cloudstack.iam import (
    Denial,
    IamCredentials,
    Identities,
    MetadataServers,
    Policy,
)
from local.cloudstack.ledger import Ledger, NeverSettles, Published, PushSubscription
from local.cloudstack.pubsub import PublishProxy
from local.cloudstack.terraform import PROJECT_NUMBER, Lazy, Plan, plain
from local.harness import Harness
from shared.clock import FakeClock, to_rfc3339

_LOGGER = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN_SOURCE = ROOT / "main.py"
SCHEDULER = "cloud-scheduler"
OPERATOR = "operator"  # the harness, reading what the service stored (not a function)
ADMIN = "admin@example.com"

# The tfvars of a tenant as an operator would write them (docs/deploy.md), with both
# admin-added secrets switched on (CloudStack adds their versions).
DEFAULT_VARIABLES: dict[str, Any] = {
    "project_id": "hybridcal-local",
    "region": "europe-west1",
    "prefix": "hybridcal",
    "webex_site": "example",
    "org_domains": ["example.com"],
    "provisioning_admins": [f"user:{ADMIN}"],
    "meetings_api_admins": [ADMIN],
    "workspace_admin": ADMIN,
    "room_reader": "hybridcal-rooms@example.com",
    "scheduling_account": "hybridcal-booking@example.com",  # organises device bookings
    "device_booking_provider": "webex-personal-room",
    "webex_token_enabled": True,
    "meetings_api_tokens_enabled": True,
}


class SharedClock(FakeClock):
    """The harness's fake clock, mirrored to a file every function process reads."""

    def __init__(self, path: Path, start: datetime | None = None) -> None:
        super().__init__(start)
        self.path = path
        self._write()

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        now = super().advance(seconds, **kwargs)
        self._write()
        return now

    def set(self, when: datetime) -> None:
        super().set(when)
        self._write()

    def _write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(self.now().isoformat(), encoding="ascii")
        os.replace(temporary, self.path)


@dataclass
class Function:
    """One function resource of the plan, as CloudStack runs it."""

    key: str  # process-changes
    name: str  # hybridcal-process-changes (the Cloud Run service)
    entry_point: str
    service_account: str
    environment: dict[str, str]
    secrets: list[tuple[str, str, str]]  # (variable, secret id, version)
    threads: int
    timeout: int
    internal_only: bool
    front: Front
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    proxy: PublishProxy | None = None
    restarts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Job:
    name: str
    schedule: str
    topic: str
    data: bytes
    attributes: dict[str, str]
    due: datetime


class CloudStack(Harness):
    """See the module docstring; the public methods are LocalStack's contract plus
    :meth:`processes`, :meth:`iam_denials`, :meth:`kill` and :meth:`restart`."""

    def __init__(
        self,
        *,
        data_dir: Path | str | None = None,
        variables: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        schedules: Iterable[str] | None = None,
        real_time: bool = False,
        firestore: Any = None,
        pubsub: Any = None,
        retry_scale: float = 0.1,
        settle_timeout: float = 120.0,
        infra: Path = INFRA,
    ) -> None:
        """``variables``: tfvars over :data:`DEFAULT_VARIABLES`; ``env``: extra settings for
        every function (test knobs, on top of Terraform's); ``schedules``: the Scheduler jobs
        (``infra/`` keys) that fire on :meth:`advance` (None = all); ``firestore``/``pubsub``:
        running emulators to share (each stack then uses a project of its own); ``infra``:
        the Terraform root module to deploy (another revision of infra/, say)."""
        self.infra = Path(infra)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hybridcal-cloud-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.real_time = real_time
        self._variables = {**DEFAULT_VARIABLES, **(variables or {})}
        if (firestore is not None or pubsub is not None) and "project_id" not in (
                variables or {}):
            self._variables["project_id"] = f"hybridcal-{secrets.token_hex(4)}"
        self.project: str = self._variables["project_id"]
        self._extra_env = dict(env or {})
        self._schedules = None if schedules is None else set(schedules)
        self._firestore, self._pubsub = firestore, pubsub
        self._own_emulators: list[Any] = []
        self.retry_scale = retry_scale
        self.settle_timeout = settle_timeout
        self.functions: dict[str, Function] = {}
        self._fronts: dict[str, Front] = {}
        self._jobs: list[_Job] = []
        self._servers: list[Any] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._device_tokens: dict[str, str] = {}
        self._spawner = futures.ThreadPoolExecutor(1, thread_name_prefix="cloudstack-spawner")
        self._started = False
        self.clock: Any = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> CloudStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> CloudStack:
        if self._started:
            return self
        began = time.monotonic()
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self._gcloud_config = self.data_dir / "gcloud-config"  # no developer's ADC leaks in
        self._gcloud_config.mkdir(exist_ok=True)
        if self.real_time:
            from shared.clock import SystemClock

            self.clock = SystemClock()
        else:
            self.clock = SharedClock(self.data_dir / "clock")
        emulators = self._start_emulators()
        self.plan = Plan(self.infra, self._variables, function_uri=self._front_url)
        self.delegated = str(self.plan.module.resource("google_service_account",
                                                       "delegated").get("email"))
        self._start_google()
        self.policy = Policy.from_plan(self.plan)
        self.identities = Identities()
        self._start_fakes()
        emulators.result()
        self._read_functions()
        self._create_pubsub()
        self._jobs = self._read_jobs()
        self._secrets = self._read_secrets()
        self._start_functions(list(self.functions.values()))
        self._started = True
        self.startup_seconds = time.monotonic() - began
        _LOGGER.info("CloudStack up in %.1f s: %d functions", self.startup_seconds,
                     len(self.functions))
        if self.real_time:
            self._loop = threading.Thread(target=self._real_time_loop, daemon=True,
                                          name="cloudstack-loop")
            self._loop.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=10)
        for function in self.functions.values():  # nothing to flush: the state is elsewhere
            self.kill(function.key)
        stoppers: list[Any] = []
        for function in self.functions.values():
            self._stop_process(function)
            if function.proxy is not None:
                stoppers.append(function.proxy.stop)
        stoppers += [front.stop for front in self._fronts.values()]
        stoppers += [server.stop for server in self._servers]
        stoppers += [emulator.stop for emulator in self._own_emulators]

        def stop(stopper: Any) -> None:
            try:
                stopper()
            except Exception:  # closing: keep closing the rest
                _LOGGER.exception("could not stop %r", stopper)

        # each werkzeug server takes up to its 0.5 s poll interval to notice: all at once
        with futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(stop, stoppers))
        self._spawner.shutdown(wait=False)
        self._own_emulators.clear()
        self._servers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._started = False

    # -- the LocalStack contract -----------------------------------------------------------------
    def add_user(self, email: str, *, locale: str = "en", timezone: str = "UTC",
                 suspended: bool = False) -> None:
        self.sim.add_user(email, locale=locale, timezone=timezone, suspended=suspended)

    def add_room(self, email: str, name: str = "", timezone: str = "UTC") -> None:
        self.sim.add_room(email, name, timezone)

    def calendar(self, email: str) -> Any:
        """A Calendar v3 Resource acting as ``email`` (like the user's calendar client)."""
        return self._client(email, "calendar")

    def gmail(self, email: str) -> Any:
        return self._client(email, "gmail")

    def _client(self, email: str, api: str) -> Any:
        from shared.google import clients

        scope = clients.SCOPES[0] if api == "calendar" else clients.SCOPES[1]
        creds = clients.delegated_credentials(
            email, [scope], service_account_info=self.sim.service_account_info,
            token_uri=self.sim.token_uri)
        build = clients.calendar_service if api == "calendar" else clients.gmail_service
        return build(creds, api_endpoint=self.sim.url)

    def now(self) -> datetime:
        return self.clock.now()  # type: ignore[no-any-return]

    @property
    def faults(self) -> Any:
        return self.sim.faults

    def api_calls(self) -> Counter[str]:
        return self.sim.api_calls()

    def published(self, topic: str) -> list[dict[str, Any]]:
        return [message.json() for message in self.ledger.of_topic(topic)]

    def messages(self, topic: str) -> list[Published]:
        """Published messages with their ids, attributes and publisher."""
        return self.ledger.of_topic(topic)

    def url(self, function: str) -> str:
        """The URL of a function, by entry point (``meetings_api``) or key (``meetings-api``)."""
        return self._function(function).front.url

    def activate(self, email: str) -> str:
        """Activate a user through ``provision_users`` as an admin; settles; the status."""
        answer = self.admin_call("POST", "/users:activate", {"emails": [email]})
        self.settle()
        return str(answer["results"][email.lower()] if email.lower() in answer["results"]
                   else answer["results"][email])

    def activate_all(self, emails: list[str]) -> dict[str, Any]:
        """One ``POST /users:activate`` for all of them (202 and queued above 50); settles."""
        answer = self.admin_call("POST", "/users:activate", {"emails": emails})
        self.settle()
        return answer

    def deactivate(self, email: str) -> str:
        answer = self.admin_call("POST", "/users:deactivate", {"emails": [email]})
        self.settle()
        return str(answer["results"][email])

    def activate_workspace(self, room: str) -> str:
        answer = self.admin_call("POST", "/workspaces:activate", {"emails": [room]})
        self.settle()
        return str(answer["results"][room])

    def user_status(self, email: str) -> dict[str, Any]:
        import requests

        answer = requests.get(f"{self.url('provision_users')}/users/{email}", timeout=60,
                              headers=self._admin_headers("provision_users"))
        if answer.status_code == 404:
            return {"status": "unknown"}
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def api_token(self, principal: str) -> str:
        """A credential for ``meetings_api``: ``user:EMAIL`` and ``admin`` get a Google ID
        token (the app's and admins' way in); ``device:ROOM`` a bearer token added to the
        ``api-tokens`` secret, after which ``meetings_api`` is redeployed (restarted) to read
        it, as an operator's new secret version takes effect."""
        kind, _, email = principal.partition(":")
        audience = str(self._env_of("meetings_api")["HYBRIDCAL_API_AUDIENCE"])
        if kind == "user":
            return self.id_token(email, audience)
        if kind == "admin":
            return self.id_token(self._variables["meetings_api_admins"][0], audience)
        token = secrets.token_urlsafe(24)
        self._device_tokens[token] = principal.lower()
        self._secrets[self._secret_id("api-tokens")] = ",".join(
            f"{t}={p}" for t, p in self._device_tokens.items())
        for function in self.functions.values():
            if any(secret == self._secret_id("api-tokens") for _, secret, _ in function.secrets):
                self.restart(function.key)
        return token

    def meetings(self, email: str) -> list[dict[str, Any]]:
        """The default meetings list through ``meetings_api``, as an admin."""
        return self.api_get(f"/users/{email}/meetings", self.api_token("admin"))["meetings"]  # type: ignore[no-any-return]

    def presence(self, email: str) -> dict[str, Any]:
        """The user's presence through ``meetings_api`` (``status``, ``since``, ``until``)."""
        return self.api_get(f"/users/{email}/presence", self.api_token("admin"))

    def api_get(self, path: str, token: str) -> dict[str, Any]:
        import requests

        answer = requests.get(f"{self.url('meetings_api')}{path}", timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def settle(self) -> None:
        """Deliver pushes and messages until nothing is queued, in flight or waiting for a
        retry anywhere (Pub/Sub, the simulator's push queue). While only retries are pending
        the fake clock moves by the subscription's minimum backoff, as in LocalStack; raises
        :class:`NeverSettles` if work does not stop within ``settle_timeout`` real seconds of
        no progress."""
        with self._lock:
            seen = self.ledger.changes
            last_progress = time.monotonic()
            waited_for: set[tuple[str, str, int]] = set()
            while True:
                if self.sim.deliver_pushes():
                    last_progress = time.monotonic()
                    continue
                if self.ledger.busy():
                    retries = self.ledger.only_retries_left()
                    wave = {(d.subscription, d.message_id, d.attempts) for d in retries}
                    if retries and not wave <= waited_for and not self.real_time:
                        waited_for |= wave
                        self.clock.advance(min(self._backoff(d) for d in retries))
                    changed = self.ledger.wait_for_change(seen, timeout=0.5)
                    if changed != seen:
                        seen, last_progress = changed, time.monotonic()
                    elif time.monotonic() - last_progress > self.settle_timeout:
                        raise NeverSettles("not settled after "
                                           f"{self.settle_timeout:.0f} s without progress: "
                                           + self.ledger.describe() + "\nPub/Sub emulator: "
                                           + self._pubsub.log_tail(15))
                    continue
                if self.sim.pending_pushes() and not self.real_time:
                    due = self.sim.next_push_due()
                    if due is not None and due > self.clock.now():
                        self.clock.set(due)
                    continue
                return

    def _backoff(self, delivery: Any) -> float:
        """Pub/Sub's exponential retry backoff after ``delivery.attempts`` failed attempts,
        in the plan's (unscaled) bounds: what the fake clock passes while a retry waits."""
        sub = self.ledger.subscriptions[delivery.subscription]
        return float(min(sub.maximum_backoff,
                         sub.minimum_backoff * 2 ** max(0, delivery.attempts - 1)))

    def use_jobs(self, jobs: Iterable[str] | None) -> None:
        """Fire only these Scheduler jobs (``infra/`` keys; None = all) from now on."""
        self._schedules = None if jobs is None else set(jobs)
        now = self.clock.now()
        self._jobs = [j for j in self._all_jobs if self._schedules is None
                      or j.name in self._schedules]
        for job in self._jobs:
            job.due = cron.next_fire(job.schedule, now)

    def tick(self, job: str) -> None:
        """Fire one Scheduler job now (by its infra/ key, e.g. ``renew-watches``), settle."""
        found = next(j for j in self._all_jobs if j.name == job)
        self._publish_job(found)
        self.settle()

    def inject(self, topic: str, data: bytes, **attributes: str) -> str:
        """Publish ``data`` to ``topic`` from outside the plan (an operator replaying a message,
        a poison message in a test), as Cloud Scheduler's agent publishes; returns its id."""
        return self._publish_outside(topic, data, attributes, OPERATOR)

    def _publish_outside(self, topic: str, data: bytes, attributes: dict[str, str],
                         publisher: str) -> str:
        """Publish as one of Google's agents or the operator (no grant of the plan is
        involved) and record it in the ledger under ``publisher``; returns the message id."""
        message_id = str(self._scheduler_publisher.publish(
            f"projects/{self.project}/topics/{topic}", data, **attributes).result(timeout=30))
        self.ledger.record_publish(Published(
            topic=topic, message_id=message_id, data=data, attributes=dict(attributes),
            ordering_key="", publisher=publisher))
        return message_id

    # -- beyond LocalStack -----------------------------------------------------------------------
    def processes(self) -> dict[str, int]:
        """Function key -> pid of its instance (the gunicorn arbiter)."""
        return {key: f.process.pid for key, f in self.functions.items()
                if f.process is not None and f.process.poll() is None}

    def iam_denials(self) -> list[Denial]:
        """Every call a grant did not allow (function, permission, resource, principal)."""
        return self.policy.denials()

    def kill(self, function: str, sig: int = signal.SIGKILL) -> None:
        """Kill a function's instance (its whole process group) as an OOM kill or crash would;
        requests reaching it meanwhile get Cloud Run's 503 (Pub/Sub retries its pushes)."""
        from local.emulators._guard import group_alive

        target = self._function(function)
        if target.process is not None:
            try:
                os.killpg(target.process.pid, sig)
            except ProcessLookupError:
                pass
            target.process.wait()
            target.front.target = None
            # the gunicorn worker holds the listening socket until it is gone too
            deadline = time.monotonic() + 10
            while group_alive(target.process.pid) and time.monotonic() < deadline:
                time.sleep(0.02)

    def restart(self, function: str) -> None:
        """Start a function's instance again (a new revision), on the same port."""
        target = self._function(function)
        self.kill(target.key)
        self._stop_process(target)
        target.restarts += 1
        self._start_functions([target])

    def id_token(self, email: str, audience: str) -> str:
        """A Google-signed ID token for ``email`` (the simulator signs; its certs verify)."""
        return self.sim.id_tokens.issue(email, audience)  # type: ignore[no-any-return]

    def admin_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """``provision_users`` as the admin of ``provisioning_admins``, through Cloud Run."""
        import requests

        answer = requests.request(method, f"{self.url('provision_users')}{path}", json=body,
                                  timeout=300, headers=self._admin_headers("provision_users"))
        answer.raise_for_status()
        return answer.json()

    @property
    def store(self) -> Any:
        """The Firestore store, read directly (as an operator with console access)."""
        if getattr(self, "_store", None) is None:
            from local.emulators.firestore import emulator_client
            from shared.store.firestore import FirestoreStore

            self._store = FirestoreStore(emulator_client(self.firestore_host, self.project))
        return self._store

    @property
    def services(self) -> Any:
        """What tests of LocalStack read through ``stack.services``: the store, the settings,
        pseudonyms and a sealer that opens records (KMS as an operator, outside the plan)."""
        from shared.config import load

        return _Observed(self.store, load(self._env_of("process_changes")), self)

    @property
    def config(self) -> Any:
        """The settings the functions run with (as ``process_changes`` gets them)."""
        return self.services.config

    def _publication_kek(self) -> Any:
        """The KMS key as an operator with KMS rights uses it (outside the plan's grants)."""
        if getattr(self, "_operator_kek", None) is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud import kms_v1
            from google.oauth2.credentials import Credentials

            from shared.keys.kms import CloudKmsKek

            token = self.identities.issue("operator@cloudstack.local", OPERATOR, 24 * 3600)
            client = kms_v1.KeyManagementServiceClient(
                transport="rest", credentials=Credentials(token),
                client_options=ClientOptions(api_endpoint=self.kms.endpoint))
            self._operator_kek = CloudKmsKek(self.config.kms_key or "", client)
        return self._operator_kek

    def operator_sealer(self) -> Any:
        """A :class:`~shared.crypto.sealer.Sealer` over the store and the KMS key, as an
        operator with KMS rights would build it to read sealed records."""
        if getattr(self, "_sealer", None) is None:
            from shared.crypto.sealer import Sealer
            from shared.runtime import _sealer

            self._sealer = _sealer(Sealer, self.store, self._publication_kek(), self.clock,
                                   self.config)
        return self._sealer

    def environment(self, function: str) -> dict[str, str]:
        """The environment a function's instance runs with (secrets included)."""
        return dict(self._env_of(function))

    # -- internals: Google and the fakes ---------------------------------------------------------
    def _start_emulators(self) -> futures.Future[None]:
        from local.emulators import FirestoreEmulator, PubSubEmulator

        def start() -> None:
            wanted = []
            if self._firestore is None:
                self._firestore = FirestoreEmulator()
                wanted.append(self._firestore)
            if self._pubsub is None:
                self._pubsub = PubSubEmulator()
                wanted.append(self._pubsub)
            with futures.ThreadPoolExecutor(2) as pool:
                for result in [pool.submit(e.start) for e in wanted]:
                    result.result()
            self._own_emulators.extend(wanted)

        pool = futures.ThreadPoolExecutor(1)
        result = pool.submit(start)
        pool.shutdown(wait=False)
        return result

    @property
    def firestore_host(self) -> str:
        return str(self._firestore.host)

    @property
    def pubsub_host(self) -> str:
        return str(self._pubsub.host)

    def _start_google(self) -> None:
        from local.workspace_sim import WorkspaceSimulator

        self.sim = WorkspaceSimulator(clock=self.clock, service_account_email=self.delegated)
        self.sim.start()
        self._servers.append(self.sim)
        self.plan._unique_ids[self.delegated] = self.sim.service_account_info["client_id"]
        for email in (self._variables.get("workspace_admin"),):
            if email:
                self.sim.add_user(email, admin=True)
        for account in ("room_reader", "scheduling_account"):  # the tenant's delegated users
            if self._variables.get(account):
                self.sim.add_user(self._variables[account])
        for email in self._variables.get("meetings_api_admins", []):
            if email.lower() not in self.sim.users:
                self.sim.add_user(email, admin=True)

    def _start_fakes(self) -> None:
        from local.kms_fake import KmsFake
        from local.webex_fake import WebexFake

        self.webex = WebexFake(site=self._variables["webex_site"]).start()
        self._servers.append(self.webex)

        def kms_allows(authorization: str, permission: str, key: str) -> bool:
            caller = self.identities.caller(authorization)
            if caller is None:
                self.policy.deny("?", permission, key, "anonymous")
                return False
            member, function = caller
            if function == OPERATOR:  # the harness reading sealed records, outside the plan
                return True
            return self.policy.check(function, member, permission, key)

        self.kms = KmsFake(authorize=kms_allows).__enter__()
        self._servers.append(_Closer(lambda: self.kms.__exit__(None, None, None)))
        for instance in self.plan.instances("google_kms_crypto_key").values():
            self.kms.create_key(str(instance.get("id")))
        self.iam_credentials = IamCredentials(
            self.identities, self.policy, self.project,
            {self.delegated: {k: v for k, v in self.sim.service_account_info.items()}})
        self._servers.append(self.iam_credentials)
        self.metadata = MetadataServers(self.identities, self.project, PROJECT_NUMBER,
                                        id_token=lambda email, aud: self.id_token(email, aud))
        self._servers.append(self.metadata)

    def _front_url(self, name: str) -> str:
        if name not in self._fronts:
            self._fronts[name] = Front(name, self._ledger_placeholder(), self._policy_proxy(),
                                       self._verify_id_token)
        return self._fronts[name].url

    def _ledger_placeholder(self) -> Any:
        return _Deferred(lambda: self.ledger)

    def _policy_proxy(self) -> Any:
        return _Deferred(lambda: self.policy)

    def _verify_id_token(self, token: str, audiences: tuple[str, ...]) -> dict[str, Any] | None:
        from google.auth import exceptions
        from google.auth.transport.requests import Request
        from google.oauth2 import id_token

        try:
            claims = id_token.verify_token(token, Request(), audience=list(audiences),
                                           certs_url=self.sim.certs_url)
        except (ValueError, exceptions.GoogleAuthError):
            return None
        return dict(claims)

    # -- internals: the topology from the plan ----------------------------------------------------
    def _read_functions(self) -> None:
        subscriptions: list[PushSubscription] = []
        # Google's own name for the project's Pub/Sub service agent (whatever infra/ calls it)
        agent = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
        for key, module in self.plan.module_instances("function").items():
            resource = module.resource("google_cloudfunctions2_function", "this")
            name = str(resource.get("name"))
            build = plain(resource.get("build_config"))[0]
            service = plain(resource.get("service_config"))[0]
            region = str(resource.get("location"))
            front = self._fronts[name] if name in self._fronts else self._fronts.setdefault(
                name, Front(name, self._ledger_placeholder(), self._policy_proxy(),
                            self._verify_id_token))
            function = Function(
                key=str(key), name=name, entry_point=str(build["entry_point"]),
                service_account=str(service["service_account_email"]),
                environment={k: str(v) for k, v in
                             (service.get("environment_variables") or {}).items()},
                secrets=[(s["key"], s["secret"], str(s.get("version") or "latest"))
                         for s in service.get("secret_environment_variables") or []],
                threads=int(service.get("max_instance_request_concurrency") or 1),
                timeout=int(service.get("timeout_seconds") or 60),
                internal_only=service.get("ingress_settings") == "ALLOW_INTERNAL_ONLY",
                front=front)
            self.functions[function.key] = function
            service_id = f"projects/{self.project}/locations/{region}/services/{name}"
            front.dead_letter = self._dead_letter
            front.config = FrontConfig(
                key=function.key, service=service_id,
                audiences=(front.url, str(resource.get("url"))),
                public=self.policy.allows("allUsers", "run.routes.invoke", service_id),
                internal_only=function.internal_only, timeout=function.timeout,
                pubsub_agent=agent, project=self.project)
        for _module, rtype, _name, instance in self.plan.walk():
            if rtype != "google_pubsub_subscription":
                continue
            sub = self._push_subscription(instance)
            if sub is not None:
                subscriptions.append(sub)
                self.functions[sub.function].front.config.subscriptions[sub.name] = sub  # type: ignore[union-attr]
        self.ledger = Ledger(subscriptions)

    def _push_subscription(self, instance: Lazy) -> PushSubscription | None:
        push = _first(instance.get("push_config"))
        if push is None or not push.get("push_endpoint"):
            return None
        endpoint = str(push.get("push_endpoint"))
        function = next((f for f in self.functions.values()
                         if endpoint.startswith(f.front.url + "/") or endpoint == f.front.url),
                        None)
        if function is None:
            raise RuntimeError(f"push endpoint {endpoint} is no function of the plan")
        oidc = _first(push.get("oidc_token"))
        retry = _first(instance.get("retry_policy"))
        dead = _first(instance.get("dead_letter_policy"))
        return PushSubscription(
            name=f"projects/{self.project}/subscriptions/{instance.get('name')}",
            topic=_short(str(instance.get("topic")), "topics"),
            function=function.key,
            endpoint_path=endpoint[len(function.front.url):] or "/",
            push_account=str(oidc.get("service_account_email")) if oidc else None,
            audience=str(oidc.get("audience")) if oidc else None,
            ack_deadline=int(instance.get("ack_deadline_seconds") or 10),
            ordering=bool(instance.get("enable_message_ordering")),
            minimum_backoff=_seconds(retry.get("minimum_backoff") if retry else None, 10),
            maximum_backoff=_seconds(retry.get("maximum_backoff") if retry else None, 600),
            dead_letter_topic=str(dead.get("dead_letter_topic")) if dead else None,
            max_delivery_attempts=int(dead.get("max_delivery_attempts") or 5) if dead else None,
        )

    def _create_pubsub(self) -> None:
        from google.api_core import exceptions
        from google.protobuf import duration_pb2

        publisher = self._pubsub.publisher()
        subscriber = self._pubsub.subscriber()
        for _module, rtype, _name, instance in self.plan.walk():
            if rtype == "google_pubsub_topic":
                try:
                    publisher.create_topic(name=f"projects/{self.project}/topics/"
                                                f"{instance.get('name')}")
                except exceptions.AlreadyExists:
                    pass
        for _module, rtype, _name, instance in self.plan.walk():
            if rtype != "google_pubsub_subscription":
                continue
            name = f"projects/{self.project}/subscriptions/{instance.get('name')}"
            request: dict[str, Any] = {
                "name": name,
                "topic": f"projects/{self.project}/topics/"
                         f"{_short(str(instance.get('topic')), 'topics')}",
                "ack_deadline_seconds": int(instance.get("ack_deadline_seconds") or 10),
                "enable_message_ordering": bool(instance.get("enable_message_ordering")),
            }
            push = self.ledger.subscriptions.get(name)
            if push is not None:
                request["push_config"] = {"push_endpoint": self.functions[push.function]
                                          .front.url + push.endpoint_path}
                if push.push_account:
                    request["push_config"]["oidc_token"] = {
                        "service_account_email": push.push_account,
                        "audience": push.audience or ""}
            retry = _first(instance.get("retry_policy"))
            if retry is not None:
                low = _seconds(retry.get("minimum_backoff"), 10) * self.retry_scale
                high = _seconds(retry.get("maximum_backoff"), 600) * self.retry_scale
                request["retry_policy"] = {
                    "minimum_backoff": duration_pb2.Duration(seconds=int(low),
                                                             nanos=int(low % 1 * 1e9)),
                    "maximum_backoff": duration_pb2.Duration(seconds=int(high),
                                                             nanos=int(high % 1 * 1e9))}
            dead = _first(instance.get("dead_letter_policy"))
            if dead is not None and not (push is not None and push.harness_dead_letters):
                request["dead_letter_policy"] = {
                    "dead_letter_topic": str(dead.get("dead_letter_topic")),
                    "max_delivery_attempts": int(dead.get("max_delivery_attempts") or 5)}
            try:
                subscriber.create_subscription(request=request)
            except exceptions.AlreadyExists:
                pass
        self._scheduler_publisher = publisher

    def _read_jobs(self) -> list[_Job]:
        jobs = []
        now = self.clock.now()
        for instance in self.plan.instances("google_cloud_scheduler_job").values():
            target = _first(instance.get("pubsub_target"))
            if target is None:
                continue
            key = instance.address.rsplit('["', 1)[-1].rstrip('"]')  # type: ignore[attr-defined]
            schedule = str(instance.get("schedule"))
            jobs.append(_Job(
                name=key, schedule=schedule,
                topic=_short(str(target.get("topic_name")), "topics"),
                data=base64.b64decode(str(target.get("data") or "")),
                attributes={str(k): str(v) for k, v in (target.get("attributes") or {}).items()},
                due=cron.next_fire(schedule, now)))
        self._all_jobs = jobs
        return [j for j in jobs if self._schedules is None or j.name in self._schedules]

    def _read_secrets(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instance in self.plan.instances("google_secret_manager_secret_version").values():
            secret = _short(str(instance.get("secret")), "secrets")
            values[secret] = str(instance.get("secret_data"))
        values.setdefault(self._secret_id("webex-token"), self.webex.token)
        values.setdefault(self._secret_id("api-tokens"), "")
        return values

    def _secret_id(self, name: str) -> str:
        return f"{self._variables['prefix']}-{name}"

    # -- internals: the function processes --------------------------------------------------------
    def _function(self, name: str) -> Function:
        if name in self.functions:
            return self.functions[name]
        for function in self.functions.values():
            if function.entry_point == name and not function.internal_only:
                return function
        for function in self.functions.values():
            if function.entry_point == name:
                return function
        raise KeyError(f"no function {name!r} in infra/ (keys: {sorted(self.functions)})")

    def _env_of(self, name: str) -> dict[str, str]:
        function = self._function(name)
        env = dict(function.environment)
        for variable, secret, _version in function.secrets:
            resource = f"projects/{self.project}/secrets/{secret}"
            member = f"serviceAccount:{function.service_account}"
            # Cloud Run reads secrets as the service account when the revision deploys
            if self.policy.check(function.key, member, "secretmanager.versions.access",
                                 resource) and secret in self._secrets:
                env[variable] = self._secrets[secret]
        intake = self._function("intake_push")
        env.update({
            "HYBRIDCAL_GOOGLE_API_ENDPOINT": self.sim.url,
            "HYBRIDCAL_TOKEN_URI": self.sim.token_uri,
            "HYBRIDCAL_ID_TOKEN_CERTS_URL": self.sim.certs_url,
            "HYBRIDCAL_INTAKE_URL": intake.front.url,
            "HYBRIDCAL_WEBEX_API_URL": self.webex.url,
        })
        if not self.real_time:
            env["HYBRIDCAL_CLOCK_FILE"] = str(self.clock.path)
        env.update(self._extra_env)
        env.update(function.extra_env)
        return env

    def _process_env(self, function: Function) -> dict[str, str]:
        member = f"serviceAccount:{function.service_account}"
        if function.proxy is None:
            function.proxy = PublishProxy(self.pubsub_host, self.policy, self.ledger,
                                          member=member, function=function.key)
        metadata = self.metadata.host_for(function.service_account, function.key)
        env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TMPDIR",
                                                    "SYSTEMROOT") if name in os.environ}
        env.update(self._env_of(function.key))
        env.update({
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "HOME": str(self._gcloud_config),
            "CLOUDSDK_CONFIG": str(self._gcloud_config),
            # Cloud Run's own variables
            "K_SERVICE": function.name,
            "K_REVISION": f"{function.name}-{function.restarts + 1:05d}-cls",
            "K_CONFIGURATION": function.name,
            "PORT": str(function.port),
            "FUNCTION_TARGET": function.entry_point,
            # functions-framework's gunicorn: Cloud Run concurrency = threads of one worker
            "THREADS": str(function.threads),
            "WORKERS": "1",
            "CLOUD_RUN_TIMEOUT_SECONDS": str(function.timeout),
            # Google's network, as this instance sees it
            "GCE_METADATA_HOST": metadata,
            "GCE_METADATA_IP": metadata,
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": function.proxy.host,
            "CLOUDSTACK_IAM_CREDENTIALS": self.iam_credentials.base_url,
            "CLOUDSTACK_KMS_ENDPOINT": self.kms.endpoint,
            "CLOUDSTACK_PARENT_PID": str(os.getpid()),
            # each instance writes its billed operations here (local.cloudstack.billing)
            "CLOUDSTACK_BILLING_DIR": str(self._billing_dir()),
        })
        return env

    def _billing_dir(self) -> Path:
        path = self.data_dir / "billing"
        path.mkdir(exist_ok=True)
        return path

    def billing(self) -> Counter[str]:
        """What Google would bill for the work so far, as LocalStack's ``billing()``: every
        instance's Firestore, Pub/Sub and KMS counts, the fronts' invocations and push
        deliveries, and each instance's CPU seconds (local.cloudstack.billing)."""
        from local.cloudstack.billing import CpuWatch, collect

        watch = self.__dict__.setdefault("_cpu_watch", CpuWatch())
        cpu = watch.sample(self.processes())
        return collect(self._billing_dir(), [(f.key, f.front) for f in self.functions.values()],
                       cpu)

    def _start_functions(self, functions: list[Function], attempt: int = 1) -> None:
        for function in functions:
            if not function.port:
                function.port = _free_port()
            function.log = self.data_dir / "logs" / f"{function.key}.log"
            command = [sys.executable, "-m", "local.cloudstack.instance",
                       "--target", function.entry_point, "--signature-type", "http",
                       "--source", str(MAIN_SOURCE), "--host", "127.0.0.1",
                       "--port", str(function.port)]
            env = self._process_env(function)

            def spawn(command: list[str] = command, env: dict[str, str] = env,
                      log_path: Path = function.log) -> subprocess.Popen[bytes]:
                with log_path.open("ab") as log:
                    return subprocess.Popen(
                        command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, start_new_session=True)

            # always from one long-lived thread: an instance dies with the thread that started
            # it (PR_SET_PDEATHSIG), and restarts may be asked for from any thread
            function.process = self._spawner.submit(spawn).result()
        deadline = time.monotonic() + 120
        for function in functions:
            try:
                self._wait_ready(function, deadline)
            except PortTaken:
                # the free port found was taken by another process before gunicorn bound it
                # (other stacks and test workers pick ports too): a new port, a new start
                if attempt >= 3:
                    raise
                function.port = 0
                self._stop_process(function)
                self._start_functions([function], attempt + 1)
                continue
            function.front.target = f"127.0.0.1:{function.port}"


    def _wait_ready(self, function: Function, deadline: float) -> None:
        assert function.process is not None
        while True:
            # Cloud Run's default startup probe is a TCP connection; here the worker itself
            # must answer (gunicorn refuses a malformed request line without calling the
            # function), because a connection the arbiter's backlog took can still be reset
            try:
                with socket.create_connection(("127.0.0.1", function.port), timeout=2) as probe:
                    if probe.getsockname() != probe.getpeername():  # not a self-connect
                        probe.sendall(b"PROBE\x00 / HTTP/1.1\r\n\r\n")
                        if probe.recv(12).startswith(b"HTTP/"):
                            return
            except OSError:
                pass
            if function.process.poll() is not None or time.monotonic() > deadline:
                tail = function.log.read_text(errors="replace")[-3000:] if function.log else ""
                error = PortTaken if "Address already in use" in tail else RuntimeError
                raise error(f"function {function.key} did not start "
                            f"(exit {function.process.poll()}):\n{tail}")
            time.sleep(0.05)

    def _stop_process(self, function: Function) -> None:
        process, function.process = function.process, None
        function.front.target = None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        else:
            try:  # the gunicorn worker may outlive a killed arbiter for a moment
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- internals: Scheduler ------------------------------------------------------------------
    def _run_due_jobs(self) -> None:
        now = self.clock.now()
        for job in sorted(self._jobs, key=lambda j: j.due):
            if job.due <= now:
                self._publish_job(job)
                job.due = cron.next_fire(job.schedule, now)

    def _publish_job(self, job: _Job) -> None:
        """As Cloud Scheduler publishes: the job's data and attributes, as its service agent
        (which holds ``pubsub.topics.publish`` through Google's own grant)."""
        self._publish_outside(job.topic, job.data, dict(job.attributes), SCHEDULER)

    def _dead_letter(self, subscription: PushSubscription, envelope: dict[str, Any],
                     attempts: int) -> None:
        """Forward a message to its dead-letter topic as Pub/Sub does (for the subscriptions
        whose dead-lettering the emulator cannot do: :class:`PushSubscription`)."""
        message = envelope.get("message") or {}
        data = base64.b64decode(message.get("data") or "")
        attributes = {**(message.get("attributes") or {}),
                      "CloudPubSubDeadLetterSourceSubscription":
                          subscription.name.rsplit("/", 1)[-1],
                      "CloudPubSubDeadLetterSourceSubscriptionProject": self.project,
                      "CloudPubSubDeadLetterSourceDeliveryCount": str(attempts)}
        if message.get("publishTime"):
            attributes["CloudPubSubDeadLetterSourceTopicPublishTime"] = message["publishTime"]
        topic = _short(str(subscription.dead_letter_topic), "topics")
        self._publish_outside(topic, data, attributes, "pubsub-service-agent")

    def _real_time_loop(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self._run_due_jobs()
                self.sim.deliver_pushes()
            except Exception:
                _LOGGER.exception("CloudStack loop iteration failed; continuing")

    def _admin_headers(self, function: str) -> dict[str, str]:
        admin = next(m.partition(":")[2] for m in self._variables["provisioning_admins"]
                     if m.startswith("user:"))
        audience = self._function_url(function)
        return {"Authorization": f"Bearer {self.id_token(admin, audience)}"}

    def _function_url(self, function: str) -> str:
        """The function's cloudfunctions.net URL, an audience Cloud Run accepts."""
        target = self._function(function)
        module = self.plan.module_instances("function")[target.key]
        return str(module.resource("google_cloudfunctions2_function", "this").get("url"))


@dataclass
class _Observed:
    """The parts of LocalStack's ``services`` a test reads: the store, the settings, and the
    pseudonyms (keyed with the pseudonym-key secret the functions get)."""

    store: Any
    config: Any
    stack: Any

    def pseudonym(self, email: str) -> str:
        from shared.pseudonym import pseudonymise

        return pseudonymise(email, self.config.pseudonym_key)

    @property
    def sealer(self) -> Any:
        return self.stack.operator_sealer()


class _Deferred:
    """Forwards attribute access to an object made later (fronts exist before the ledger)."""

    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)


class _Closer:
    def __init__(self, stop: Any) -> None:
        self.stop = stop


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _short(value: str, kind: str) -> str:
    return value.rsplit(f"/{kind}/", 1)[-1]


def _seconds(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    return float(str(value).rstrip("s"))


class PortTaken(RuntimeError):
    """A function instance could not bind its port: another process took it first."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


__all__ = ["CloudStack", "NeverSettles", "to_rfc3339"]
