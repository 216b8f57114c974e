"""Configuration from environment variables, validated once at start-up.

Every setting is declared in :data:`SETTINGS` (name, default, parser, help) so the README table,
the Terraform function environments and this validation come from one list; tests check that
the README and ``infra/`` agree with it. A bad value fails fast with an error that names the
variable and how to fix it, instead of surfacing as a confusing failure on the first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """Settings are missing or malformed; the message names each variable and the fix, one
    problem a line (:attr:`problems`), and never shows a secret setting's value."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


WATCH_TTL_CAP_SECONDS = 604800  # Google's maximum lifetime of a Calendar push channel (7 days)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What HYBRIDCAL_KEYWORDS may name (shared.keyword.providers): name -> whether it needs ":ARG"
KEYWORD_PROVIDERS = {"webex-personal-room": False, "webex-space": False, "google-meet": False,
                     "jitsi": None, "url": True}  # None: the argument is optional
_LOCALES_DIR = Path(__file__).resolve().parent / "i18n" / "locales"
_KMS_KEY = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/"
                      r"keyRings/[\w-]{1,63}/cryptoKeys/[\w-]{1,63}$")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("must be a positive whole number") from None
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _mode(text: str) -> str:
    if text not in ("embedded", "cloud"):
        raise ValueError("must be 'embedded' or 'cloud'")
    return text


def _keywords(text: str) -> dict[str, str]:
    """``@webex=webex-personal-room,@meet=webex-space`` → ``{"@webex": "webex-personal-room"}``.
    A provider the service does not have is refused here: at run time it would silently
    become the Personal Room fallback on every event."""
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        keyword, sep, provider = part.partition("=")
        keyword = keyword.strip().lower()
        if not sep or not keyword.startswith("@") or len(keyword) < 2 or not provider.strip():
            raise ValueError(f"entry {part!r} must look like @keyword=provider")
        name, colon, argument = provider.strip().partition(":")
        needs = KEYWORD_PROVIDERS.get(name, "unknown")
        if needs == "unknown" or (needs is True and not argument) or (
                needs is False and colon):
            raise ValueError(f"entry {part!r} names an unknown provider; providers are "
                             "webex-personal-room, webex-space, google-meet, jitsi[:BASE_URL] "
                             "and url:TEMPLATE")
        result[keyword] = provider.strip()
    if not result:
        raise ValueError("needs at least one @keyword=provider entry")
    return result


def _watch_ttl(text: str) -> int:
    value = _positive_int(text)
    if value > WATCH_TTL_CAP_SECONDS:
        raise ValueError(f"must be at most {WATCH_TTL_CAP_SECONDS} seconds (7 days): Google "
                         "caps a channel's lifetime there, so renewal would be planned for a "
                         "channel that has already expired")
    return value


def _kms_key(text: str) -> str:
    if not _KMS_KEY.match(text):
        raise ValueError("must be a key's resource name, "
                         "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY "
                         "(not a key ring, a key version or a URL)")
    return text


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
    return level


def _locale(text: str) -> str:
    """A locale join blocks have a translation for (``de``, ``pt-BR``, ``zh_CN``...): the
    language is what must exist, as Google's region variants (``en-GB``) map onto it."""
    available = sorted(p.name for p in _LOCALES_DIR.iterdir() if p.is_dir())
    language = text.strip().replace("-", "_").split("_")[0].lower()
    if not language or language not in {name.split("_")[0] for name in available}:
        raise ValueError("must be a locale join blocks are translated into: "
                         + ", ".join(available))
    return text.strip()


def _url(text: str) -> str:
    """An exact URL (token endpoints, push addresses): https, or http on loopback only."""
    if not text.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError("must be an https:// URL (http only for 127.0.0.1/localhost)")
    return text


def _base_url(text: str) -> str:
    """An API base URL, normalised to end with one slash so paths join predictably."""
    return _url(text).rstrip("/") + "/"


PRINCIPAL_KINDS = ("user", "device", "admin")


def _api_tokens(text: str) -> dict[str, str]:
    """``tok1=user:ann@example.com,tok2=device:room-1@example.com,tok3=admin`` → token map."""
    result: dict[str, str] = {}
    for number, part in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
        token, sep, principal = part.partition("=")
        kind, _, email = principal.strip().partition(":")
        if not sep or len(token.strip()) < 16 or kind not in PRINCIPAL_KINDS or (
                kind != "admin" and "@" not in email):
            raise ValueError(f"entry {number} (of the comma-separated entries) must look like "
                             "TOKEN=user:EMAIL, TOKEN=device:ROOM_EMAIL or TOKEN=admin, TOKEN "
                             "being 16 or more characters")
        result[token.strip()] = f"{kind}:{email.strip().lower()}" if kind != "admin" else "admin"
    return result


def _client_id(text: str) -> str:
    """A service account's unique id: the 21-digit number the Admin console asks for."""
    if not text.isascii() or not text.isdigit() or len(text) > 32:
        raise ValueError("must be the service account's numeric unique id")
    return text


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _domains(text: str) -> tuple[str, ...]:
    """``example.com, example.co.uk`` → ``("example.com", "example.co.uk")``: plain DNS names,
    no scheme, no ``@`` and no wildcard (each domain already covers its subdomains)."""
    domains = tuple(d.strip().lower().rstrip(".") for d in text.split(",") if d.strip())
    if not domains or not all(_DOMAIN.match(d) for d in domains):
        raise ValueError("must be a comma-separated list of DNS domain names such as "
                         "example.com (no scheme, no @, no wildcard)")
    return domains


def _emails(text: str) -> tuple[str, ...]:
    emails = tuple(e.strip().lower() for e in text.split(",") if e.strip())
    if not all("@" in e for e in emails):
        raise ValueError("must be a comma-separated list of email addresses")
    return emails


def _email(text: str) -> str:
    email = text.strip().lower()
    if email.count("@") != 1 or " " in email or not email.split("@")[1]:
        raise ValueError("must be one email address")
    return email


_BOOKING_PROVIDERS = ("webex-personal-room", "webex-space", "jitsi", "url")


def _booking_provider(text: str) -> str:
    """A provider as in ``HYBRIDCAL_KEYWORDS`` that needs no existing event (Meet does)."""
    name, _, argument = text.strip().partition(":")
    if name not in _BOOKING_PROVIDERS or (name == "url" and not argument):
        raise ValueError("must be webex-personal-room, webex-space, jitsi[:BASE_URL] or "
                         "url:TEMPLATE")
    return text.strip()


@dataclass(frozen=True)
class Setting:
    env: str
    attr: str
    default: str | None
    parse: Callable[[str], Any]  # Any: each setting parses to its own field's type
    help: str
    required_in: tuple[str, ...] = ()
    secret: bool = False  # never echoed in an error


SETTINGS: tuple[Setting, ...] = (
    Setting("HYBRIDCAL_MODE", "mode", "embedded", _mode,
            "`embedded` (SQLite, in-process bus, local keys) or `cloud` (Firestore, Pub/Sub, KMS)."),
    Setting("GOOGLE_CLOUD_PROJECT", "project", None, str,
            "Google Cloud project id (set by the Cloud Functions runtime).", ("cloud",)),
    Setting("HYBRIDCAL_DATA_DIR", "data_dir", ".local-data", str,
            "Embedded mode: directory for the SQLite store and the local keyset."),
    Setting("HYBRIDCAL_DELEGATED_SA", "delegated_service_account", None, str,
            "Email of the service account authorised for domain-wide delegation; its JWTs are "
            "signed keylessly through IAM signJwt.", ("cloud",)),
    Setting("HYBRIDCAL_DELEGATED_CLIENT_ID", "delegated_client_id", None, _client_id,
            "Numeric client id (unique id) of that service account, named in delegation "
            "errors so an admin knows what to authorise (infra/ sets it)."),
    Setting("HYBRIDCAL_GOOGLE_API_ENDPOINT", "google_api_endpoint", None, _base_url,
            "Override the Google API endpoint (the Workspace simulator's URL); unset = Google."),
    Setting("HYBRIDCAL_TOKEN_URI", "token_uri", "https://oauth2.googleapis.com/token", _url,
            "OAuth token endpoint for the JWT-bearer grant."),
    Setting("HYBRIDCAL_INTAKE_URL", "intake_url", None, _url,
            "Public HTTPS address of `intake_push`, given to Calendar watches.", ("cloud",)),
    Setting("HYBRIDCAL_KMS_KEY", "kms_key", None, _kms_key,
            "Cloud KMS key-encryption key: projects/P/locations/L/keyRings/R/cryptoKeys/K.",
            ("cloud",)),
    Setting("HYBRIDCAL_PSEUDONYM_KEY", "pseudonym_key", "local-dev-pseudonym-key", str,
            "Secret for the keyed hash that pseudonymises user ids in logs and clear fields.",
            secret=True),
    Setting("HYBRIDCAL_ADMIN_TOKEN", "admin_token", None, str,
            "Embedded mode: bearer token admins present to `provision_users`.", secret=True),
    Setting("HYBRIDCAL_WATCH_TTL_SECONDS", "watch_ttl_seconds", "604800", _watch_ttl,
            "Lifetime requested for Calendar push channels, at most Google's cap of 604800 "
            "(7 days)."),
    Setting("HYBRIDCAL_RENEWAL_HORIZON_SECONDS", "renewal_horizon_seconds", "86400",
            _positive_int, "Channels expiring within this horizon are replaced on each tick."),
    Setting("HYBRIDCAL_RECONCILE_INTERVAL_SECONDS", "reconcile_interval_seconds", "21600",
            _positive_int, "How often every active user gets a reconciliation sync."),
    Setting("HYBRIDCAL_VACATION_INTERVAL_SECONDS", "vacation_interval_seconds", "600",
            _positive_int, "Every active user's vacation responder is read once per interval."),
    Setting("HYBRIDCAL_NOTIFY_LEAD_SECONDS", "notify_lead_seconds", "300", _positive_int,
            "Join notifications go out this long before a meeting starts."),
    Setting("HYBRIDCAL_KEYWORDS", "keywords", "@webex=webex-personal-room,@meet=webex-space",
            _keywords, "Location keywords and the provider each one asks for."),
    Setting("HYBRIDCAL_WEBEX_SITE", "webex_site", "example", str,
            "Webex site name used in Personal Room URLs and SIP URIs."),
    Setting("HYBRIDCAL_WEBEX_API_URL", "webex_api_url", "https://webexapis.com/v1/", _base_url,
            "Webex REST API base URL (the embedded stack points it at a local fake)."),
    Setting("HYBRIDCAL_WEBEX_TOKEN", "webex_token", None, str,
            "Webex API bearer token (from Secret Manager when deployed); unset = Personal Room "
            "fallback for space meetings.", secret=True),
    Setting("HYBRIDCAL_ORG_DOMAINS", "org_domains", None, _domains,
            "The organisation's own DNS domains, comma-separated (`example.com,example.org`). "
            "Only their users' ID tokens are accepted by `meetings_api`, and only on them does "
            "a self-hosted meeting service's URL (`meet.*`, `join.*`, `lync.*`) become a Join "
            "button.", ("cloud",)),
    Setting("HYBRIDCAL_ORG_LOCALE", "org_locale", None, _locale,
            "Force one language for join blocks instead of each user's Calendar locale "
            "(`de`, `fr`, `pt-BR`...: a language the join blocks are translated into)."),
    Setting("HYBRIDCAL_INDEX_PAST_DAYS", "index_past_days", "1", _positive_int,
            "Meetings index window: days into the past."),
    Setting("HYBRIDCAL_INDEX_FUTURE_DAYS", "index_future_days", "28", _positive_int,
            "Meetings index window: days into the future."),
    Setting("HYBRIDCAL_DATA_KEY_ROTATION_DAYS", "data_key_rotation_days", "30", _positive_int,
            "Each user's data key is replaced after this many days."),
    Setting("HYBRIDCAL_MAX_DELIVERY_ATTEMPTS", "max_delivery_attempts", "5", _positive_int,
            "Attempts before a message is moved to its dead-letter topic."),
    Setting("HYBRIDCAL_API_TOKENS", "api_tokens", None, _api_tokens,
            "Bearer tokens for `meetings_api` (Secret Manager when deployed): "
            "`TOKEN=user:EMAIL`, `TOKEN=device:ROOM_EMAIL` or `TOKEN=admin`, comma-separated.",
            secret=True),
    Setting("HYBRIDCAL_API_AUDIENCE", "api_audience", None, str,
            "Audience Google-signed ID tokens must carry to call `meetings_api` (its URL); "
            "unset = ID tokens refused."),
    Setting("HYBRIDCAL_API_ADMINS", "api_admins", "", _emails,
            "Emails whose ID tokens may read every user's meetings."),
    Setting("HYBRIDCAL_ID_TOKEN_CERTS_URL", "id_token_certs_url",
            "https://www.googleapis.com/oauth2/v1/certs", _url,
            "Where ID-token signing certificates are fetched (the simulator serves its own)."),
    Setting("HYBRIDCAL_WORKSPACE_ADMIN", "workspace_admin", None, str,
            "A Workspace admin the service impersonates to share room calendars with "
            "`HYBRIDCAL_ROOM_READER` (`acl.insert`/`acl.delete`)."),
    Setting("HYBRIDCAL_ROOM_READER", "room_reader", None, str,
            "The delegated service user that reads (watches, syncs) workspace room calendars."),
    Setting("HYBRIDCAL_SCHEDULING_ACCOUNT", "scheduling_account", None, _email,
            "The delegated Workspace user that organises every booking made on a room device "
            "and invites the room, so the room's booking rules apply; unset = devices cannot "
            "book."),
    Setting("HYBRIDCAL_DEVICE_BOOKING_PROVIDER", "device_booking_provider", None,
            _booking_provider,
            "Join details for bookings made on a room device: `webex-personal-room`, "
            "`webex-space`, `jitsi[:BASE_URL]` or `url:TEMPLATE`; unset = no join link."),
    Setting("HYBRIDCAL_LOG_LEVEL", "log_level", "INFO", _log_level,
            "Python logging level for the structured JSON logs: DEBUG, INFO, WARNING, ERROR or "
            "CRITICAL."),
    # "" (unset) rather than None: deployed functions do read it, and unset is the answer
    Setting("HYBRIDCAL_CLOCK_FILE", "clock_file", "", str,
            "Local harnesses only (`local.CloudStack`): a file holding the simulated time all "
            "function processes share. Never set when deployed: unset = the system clock."),
)


@dataclass(frozen=True)
class Config:
    """Validated settings; build with :func:`load`."""

    mode: str = "embedded"
    project: str | None = None
    data_dir: str = ".local-data"
    delegated_service_account: str | None = None
    delegated_client_id: str | None = None
    google_api_endpoint: str | None = None
    token_uri: str = "https://oauth2.googleapis.com/token"
    intake_url: str | None = None
    kms_key: str | None = None
    pseudonym_key: str = "local-dev-pseudonym-key"
    admin_token: str | None = None
    watch_ttl_seconds: int = 604800
    renewal_horizon_seconds: int = 86400
    reconcile_interval_seconds: int = 21600
    vacation_interval_seconds: int = 600
    notify_lead_seconds: int = 300
    keywords: dict[str, str] = field(
        default_factory=lambda: {"@webex": "webex-personal-room", "@meet": "webex-space"}
    )
    webex_site: str = "example"
    webex_api_url: str = "https://webexapis.com/v1/"
    webex_token: str | None = None
    org_domains: tuple[str, ...] = ()
    org_locale: str | None = None
    index_past_days: int = 1
    index_future_days: int = 28
    data_key_rotation_days: int = 30
    max_delivery_attempts: int = 5
    api_tokens: dict[str, str] = field(default_factory=dict)
    api_audience: str | None = None
    api_admins: tuple[str, ...] = ()
    id_token_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    workspace_admin: str | None = None
    room_reader: str | None = None
    scheduling_account: str | None = None
    device_booking_provider: str | None = None
    log_level: str = "INFO"
    clock_file: str | None = None

    def replace(self, **changes: Any) -> Config:  # Any: per field; Config() checks the names
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Config(**values)


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate every setting; raises one :class:`ConfigError` listing every
    missing or malformed setting, so a deployment is fixed in one round, not one per variable.
    A secret setting's value is never part of the message (it would land in the logs)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}  # Any: Config field name -> that field's parsed value
    problems: list[str] = []
    mode = environ.get("HYBRIDCAL_MODE", "embedded")
    for setting in SETTINGS:
        raw = environ.get(setting.env, setting.default)
        if raw is None or raw == "":
            if mode in setting.required_in:
                problems.append(
                    f"{setting.env} is required when HYBRIDCAL_MODE={mode}: {setting.help} "
                    f"Set it in the function's environment (infra/ does this for you).")
            continue
        try:
            values[setting.attr] = setting.parse(raw)
        except ValueError as exc:
            shown = "(value not shown: a secret)" if setting.secret else repr(raw[:200])
            problems.append(f"{setting.env}={shown} is invalid: {exc}. "
                            f"Expected: {setting.help}")
    if problems:
        raise ConfigError(problems)
    return Config(**values)


def settings_table() -> str:
    """The README's settings table (between its ``settings-table`` markers), from
    :data:`SETTINGS`; ``python -m shared.config`` prints it and a test keeps the two equal."""
    rows = ["| variable | default | required | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "—"
        required = ", ".join(setting.required_in) or "—"
        rows.append(f"| `{setting.env}` | {default} | {required} | {setting.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
