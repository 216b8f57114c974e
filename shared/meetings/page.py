"""The meetings pages: a person's agenda and a room device's "now / next" board.

Server-rendered HTML (no build step, no framework), in the user's Calendar locale (the same
Babel catalogues as the join block) and time zone, which the page names. The first paint is
complete without JavaScript; the script in ``static/page.js`` then

- ticks every :data:`TICK_SECONDS` and updates "in 12 min", "now", "ended", time left and the
  Join button's prominence from the clock (corrected by the server's time, so a device with a
  wrong clock still shows the right state);
- re-reads the same page's ``?part=content`` fragment every ``refresh`` seconds (and whenever
  a meeting starts or ends), rendered by this same code, so there is one renderer;
- shows "Offline — last updated 12:03" when a refresh fails, until one succeeds;
- on a room board, sends the booking buttons to the booking endpoints.

How the page authenticates is :mod:`shared.meetings.page_session`: the credential that opened
it becomes an HttpOnly cookie scoped to this one calendar and never appears in the HTML. Every
answer, errors included, is an HTML page in the reader's language with a Content-Security-
Policy that admits only this response's own script and style (by nonce), no framing, no
referrer and no MIME sniffing. Every value is HTML-escaped; join links are only rendered for
http(s) URLs.
"""

from __future__ import annotations

import functools
import html
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_skeleton, format_time, get_timezone_name

from shared.errors import (
    BadRequest,
    Forbidden,
    HybridcalError,
    NotFound,
    TransientError,
    Unauthorized,
)
from shared.http.messages import ApiRequest, ApiResponse, bearer_token
from shared.keyword.joinblock import SUPPORTED, normalise_locale, translations
from shared.meetings import page_session
from shared.meetings.auth import Principal, authenticate

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.runtime import Services

TICK_SECONDS = 10
JOIN_EARLY_MINUTES = 5  # Join becomes the prominent button this long before the start
SOON_MINUTES = 60  # "in 12 min" within this; "in 3 h" within a day
BOARD_NEXT = 3
BOOK_MINUTES = (15, 30, 60)
EXTEND_MINUTES = 15
_STATIC = Path(__file__).resolve().parent / "static"


def _(text: str) -> str:
    """Marks a string for ``pybabel extract``; translated at render time by :class:`_Text`."""
    return text


@functools.cache
def _asset(name: str) -> str:
    return (_STATIC / name).read_text(encoding="utf-8")


# -- language and zone -----------------------------------------------------------------------
def negotiate(accept_language: str | None) -> str:
    """The best of our 8 locales for a browser's ``Accept-Language`` (else ``en``)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    for _q, _p, tag in sorted(weighted):
        code = normalise_locale(tag)
        if code != "en" or tag.lower().startswith("en"):
            return code
    return "en"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass
class _Text:
    """One response's language: gettext plus Babel formatting in one locale and zone."""

    code: str
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def __post_init__(self) -> None:
        self.locale = Locale.parse(self.code)
        self.gettext: Callable[[str], str] = translations(self.code).gettext

    def __call__(self, text: str, **values: object) -> str:
        translated = self.gettext(text)
        return translated % values if values else translated

    @property
    def lang(self) -> str:
        return self.code.replace("_", "-")

    def time(self, when: datetime) -> str:
        return format_time(when, "short", tzinfo=self.zone, locale=self.locale)

    def day(self, when: date) -> str:
        return format_skeleton("MMMMEEEEd", when, locale=self.locale)

    def zone_label(self) -> str:
        key = str(self.zone.key)
        if key in ("UTC", "Etc/UTC"):
            return "UTC"
        try:
            name = get_timezone_name(self.zone, locale=self.locale)
        except (LookupError, ValueError):
            return key
        return f"{name} ({key})"


# -- entry point -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Api:
    """What the page takes from :mod:`shared.meetings.api`, handed in by it (the API imports
    the page, so the page cannot import the API back): the address check and the list."""

    email: Callable[[str], str]
    meetings: Callable[[Services, dict[str, Any], dict[str, str]], dict[str, Any]]


def handle(services: Services, request: ApiRequest, segment: str, api: Api) -> ApiResponse:
    """``GET /users/{segment}/page`` (``?part=content`` for the script's refresh): always HTML,
    errors included."""
    text = _Text(negotiate(request.headers.get("accept-language")))
    try:
        return _serve(services, request, api.email(segment), text, api)
    except HybridcalError as exc:
        return _error_page(exc, text)


def _serve(services: Services, request: ApiRequest, email: str, text: _Text,
           api: Api) -> ApiResponse:
    from shared.store import names

    if request.path.endswith("/"):
        # ``…/page/`` would resolve the script's relative ``page?part=content`` (and scope the
        # cookie) one level too deep: send the browser to the one address the page works at.
        headers = _security_headers("")
        query = urlencode(request.query)
        headers["Location"] = "../page" + ("?" + query if query else "")
        return ApiResponse(308, "", headers)
    now = services.clock.now()
    stamp = now.timestamp()
    config = services.config
    query_token = request.query.get("access_token", "")
    header_token = bearer_token(request.headers)
    session = None if header_token else page_session.from_request(config, request, email, stamp)
    if session is not None:
        caller: Principal = session.principal
    else:
        token = header_token or query_token
        caller = authenticate(services, {"authorization": f"Bearer {token}"} if token else {})
        session = page_session.issue(config, caller, email, stamp,
                                     page_session.source_of(config, token))
    if not caller.may_read(email):
        raise Forbidden("not_yours")
    user = services.store.get(names.USERS, services.pseudonym(email)) or {}
    if user.get("locale") and user.get("kind") != "workspace":
        text = _Text(normalise_locale(user.get("locale")))
    if user.get("status") != "active":
        raise NotFound("inactive")
    text.zone = _zone(user.get("timezone"))
    secure = page_session.is_secure(request)
    if query_token and not header_token:
        # Trade the long-lived token in the address for the cookie, and drop it from the URL
        # (and so from history and the script's view) before anything is rendered.
        keep = {k: v for k, v in request.query.items() if k == "refresh"}
        location = "page" + ("?" + urlencode(keep) if keep else "")
        headers = _security_headers("")
        headers.update({"Location": location,
                        "Set-Cookie": page_session.set_cookie(config, session, stamp,
                                                              secure=secure)})
        return ApiResponse(303, "", headers)
    try:
        refresh = min(max(int(request.query.get("refresh", "30")), 1), 3600)
    except ValueError:
        raise BadRequest("refresh") from None
    meetings = api.meetings(services, user, {})["meetings"]
    view = _View(text=text, now=now, email=email, meetings=meetings,
                 board=user.get("kind") == "workspace",
                 may_book=caller.kind in ("device", "admin"))
    body = view.content() if request.query.get("part") == "content" else _document(
        text, view.title(), view.header(), view.main(), refresh=refresh, board=view.board)
    response = ApiResponse.html(200, body.html)
    response.headers.update(_security_headers(body.nonce))
    if session.renewable or header_token or query_token:
        if session.renewable:
            session = page_session.issue(config, caller, email, stamp, session.source)
        response.headers["Set-Cookie"] = page_session.set_cookie(config, session, stamp,
                                                                 secure=secure)
    return response


def _security_headers(nonce: str) -> dict[str, str]:
    own = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {own}; style-src {own}; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }


# -- error pages -----------------------------------------------------------------------------
def _error_page(exc: HybridcalError, text: _Text) -> ApiResponse:
    if isinstance(exc, Unauthorized):
        status, title, message = 401, text(_("This link does not open any meetings")), text(_(
            "The link is not valid or has expired. Open the meetings page again from the app, "
            "or ask your administrator for a new device link."))
    elif isinstance(exc, Forbidden):
        status, title, message = 403, text(_("These meetings are not yours to see")), text(_(
            "This link belongs to someone else's calendar or another room. Open your own "
            "meetings page from the app."))
    elif isinstance(exc, NotFound):
        status, title, message = 404, text(_("This calendar is not connected")), text(_(
            "hybridcal is not active for this calendar. Ask your administrator to activate "
            "it; the page works as soon as they have."))
    elif isinstance(exc, BadRequest):
        status, title, message = 400, text(_("This address is not valid")), text(_(
            "Check the link: it should end in /users/ followed by an email address and /page."))
    else:
        status, title, message = 503, text(_("Meetings are not available right now")), text(_(
            "The service is busy. Try again in a minute."))
    body = _document(text, title, f"<h1>{html.escape(title)}</h1>",
                     f'<main id="main"><p class="error">{html.escape(message)}</p></main>',
                     refresh=0, board=False)
    response = ApiResponse(status, body.html, _security_headers(body.nonce))
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TransientError):
        response.headers["Retry-After"] = "30"
    return response


# -- the document ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Body:
    html: str
    nonce: str = ""


def _document(text: _Text, title: str, header: str, main: str, *, refresh: int,
              board: bool) -> _Body:
    nonce = secrets.token_urlsafe(18)
    strings = {
        "in_min": text(_("in %(minutes)s min"), minutes="{n}"),
        "in_h": text(_("in %(hours)s h"), hours="{n}"),
        "now": text(_("now")), "ended": text(_("ended")),
        "left": text(_("%(minutes)s min left"), minutes="{n}"),
        "offline": text(_("Offline — last updated %(time)s"), time="{time}"),
        "signed_out": text(_("Signed out: open this page again from its link")),
        "booked_until": text(_("Booked until %(time)s"), time="{time}"),
        "busy_until": text(_("The room is busy until %(time)s"), time="{time}"),
        "busy": text(_("The room is busy")),
        "conflict": text(_("Not possible: it would run into the next meeting")),
        "released": text(_("The room is free again")),
        "failed": text(_("That did not work; try again")),
    }
    script = ""
    if refresh:
        # Raw text inside <script>: entities are not decoded there, so escape for JSON instead.
        data = json.dumps(strings, ensure_ascii=False).replace("<", "\\u003c").replace(
            "&", "\\u0026")
        script = (f'<script type="application/json" id="strings">{data}</script>'
                  f'<script nonce="{nonce}">{_asset("page.js")}</script>')
    flag = ' data-board="1"' if board else ""
    attributes = (f'data-refresh="{refresh}" data-tick="{TICK_SECONDS}" '
                  f'data-join-early="{JOIN_EARLY_MINUTES}" data-tz="{html.escape(text.zone.key)}"')
    return _Body(
        "<!doctype html>"
        f'<html lang="{html.escape(text.lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title>"
        f'<style nonce="{nonce}">{_asset("page.css")}</style></head>'
        f'<body class="{"board" if board else "agenda"}">'
        f'<div id="app" {attributes}{flag}>'
        f'<header class="top">{header}</header>{main}</div>{script}</body></html>', nonce)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass
class _Item:
    meeting: dict[str, Any]
    start: datetime
    end: datetime
    all_day: bool
    day: date


@dataclass
class _View:
    text: _Text
    now: datetime
    email: str
    meetings: list[dict[str, Any]]
    board: bool
    may_book: bool

    def __post_init__(self) -> None:
        zone = self.text.zone
        self.today = self.now.astimezone(zone).date()
        self.items: list[_Item] = []
        for meeting in self.meetings:
            if meeting.get("all_day"):
                first = date.fromisoformat(meeting["start"][:10])
                last = date.fromisoformat(meeting["end"][:10])
                start = datetime.combine(first, datetime.min.time(), zone)
                end = datetime.combine(last, datetime.min.time(), zone)
                self.items.append(_Item(meeting, start, end, True, max(first, self.today)))
            else:
                start = datetime.fromisoformat(meeting["start"]).astimezone(zone)
                end = datetime.fromisoformat(meeting["end"]).astimezone(zone)
                self.items.append(_Item(meeting, start, end, False,
                                        max(start, self.now.astimezone(zone)).date()))

    def title(self) -> str:
        return self.email if self.board else self.text(_("Meetings"))

    def header(self) -> str:
        t = self.text
        heading = html.escape(self.email) if self.board else html.escape(t(_("Meetings")))
        who = "" if self.board else f'<p class="who">{html.escape(self.email)}</p>'
        zone = html.escape(t(_("Times in %(zone)s"), zone=t.zone_label()))
        return f'<h1>{heading}</h1>{who}<p class="zone">{zone}</p>'

    def main(self) -> str:
        label = self.text(_("Room booking")) if self.board else self.text(_("Meetings"))
        status = ('<p id="booking-status" role="status" class="status"></p>'
                  if self.board and self.may_book else "")
        offline = f'<p id="offline" role="status" class="offline" hidden></p>{status}'
        return (f'<main id="main" aria-label="{html.escape(label)}">{offline}'
                f"{self.content().html}</main>")

    # -- the refreshed part --
    def content(self) -> _Body:
        inner = self._board() if self.board else self._agenda()
        updated = self.text.time(self.now)
        footer = html.escape(self.text(_("Updated %(time)s"), time=updated))
        return _Body(f'<div id="content" data-now="{_ms(self.now)}" '
                     f'data-updated-label="{html.escape(updated)}">{inner}'
                     f'<p class="updated">{footer}</p></div>')

    def _agenda(self) -> str:
        t = self.text
        if not self.items:
            none = html.escape(t(_("No meetings in the next 7 days")))
            return (f'<section class="empty" aria-labelledby="empty-h"><h2 id="empty-h">'
                    f"{none}</h2><p>"
                    + html.escape(t(_("Meetings you accept in Google Calendar appear here. To "
                                      "add join details to one, type @webex in its Location.")))
                    + "</p></section>")
        days: dict[date, list[_Item]] = {}
        for item in sorted(self.items, key=lambda i: (i.day, not i.all_day, i.start)):
            days.setdefault(item.day, []).append(item)
        out, all_day_label = [], html.escape(t(_("All day")))
        for number, (day, items) in enumerate(days.items()):
            heading = self._day_heading(day)
            all_day = [i for i in items if i.all_day]
            timed = [i for i in items if not i.all_day]
            parts = [f'<section class="day" aria-labelledby="day-{number}">'
                     f'<h2 id="day-{number}">{heading}</h2>']
            if all_day:
                parts.append(f'<ul class="all-day" aria-label="{all_day_label}">'
                             + "".join(self._all_day_row(i) for i in all_day) + "</ul>")
            if timed:
                parts.append('<ul class="meetings">' + "".join(self._row(i) for i in timed)
                             + "</ul>")
            out.append("".join(parts) + "</section>")
        return "".join(out)

    def _day_heading(self, day: date) -> str:
        t = self.text
        label = t.day(day)
        near = {self.today: t(_("Today")), self.today + timedelta(days=1): t(_("Tomorrow"))}
        if day in near:
            return f'{html.escape(near[day])} <span class="date">{html.escape(label)}</span>'
        return html.escape(label)

    def _title(self, item: _Item) -> str:
        return str(item.meeting.get("title") or self.text(_("(no title)")))

    def _declined(self, item: _Item) -> bool:
        return item.meeting.get("response_status") == "declined"

    def _state(self, item: _Item) -> str:
        if self.now >= item.end:
            return "ended"
        if self.now >= item.start:
            return "now"
        return "soon" if item.start - self.now <= timedelta(minutes=SOON_MINUTES) else "later"

    def _relative(self, item: _Item) -> str:
        t, state = self.text, self._state(item)
        if state == "now":
            return t(_("now"))
        if state == "ended":
            return t(_("ended"))
        wait = item.start - self.now
        if state == "soon":
            return t(_("in %(minutes)s min"), minutes=max(1, -(-int(wait.total_seconds()) // 60)))
        if wait < timedelta(days=1):
            return t(_("in %(hours)s h"), hours=int(wait.total_seconds() // 3600))
        return ""

    def _join(self, item: _Item, *, big: bool = False) -> str:
        url = str(item.meeting.get("join_url") or "")
        if not url.lower().startswith(("https://", "http://")):
            return ""
        window = (item.start - timedelta(minutes=JOIN_EARLY_MINUTES) <= self.now < item.end
                  and not self._declined(item))
        kind = "primary" if window else "quiet"
        join = html.escape(self.text(_("Join")))
        return (f'<a class="join {kind}{" big" if big else ""}" href="{html.escape(url)}" '
                f'target="_blank" rel="noopener noreferrer" '
                f'id="join-{html.escape(str(item.meeting["id"]))}">'
                f"{join}"
                f'<span class="vh">: {html.escape(self._title(item))}</span></a>')

    def _times(self, item: _Item) -> str:
        t = self.text
        return (f'<time datetime="{item.start.isoformat()}">{html.escape(t.time(item.start))}'
                f'</time><span class="sep"> \u2013 </span>'
                f'<time datetime="{item.end.isoformat()}">{html.escape(t.time(item.end))}</time>')

    def _row(self, item: _Item) -> str:
        declined = self._declined(item)
        declined_label = html.escape(self.text(_("Declined")))
        badge = f' <span class="badge">{declined_label}</span>' if declined else ""
        return (f'<li class="meeting{" declined" if declined else ""}" '
                f'data-start="{_ms(item.start)}" data-end="{_ms(item.end)}" '
                f'data-state="{self._state(item)}">'
                f'<span class="when">{self._times(item)}</span>'
                f'<span class="what"><span class="title">{html.escape(self._title(item))}</span>'
                f'{badge} <span class="rel">{html.escape(self._relative(item))}</span></span>'
                f"{self._join(item)}</li>")

    def _all_day_row(self, item: _Item) -> str:
        declined = self._declined(item)
        tag = html.escape(self.text(_("All day")))
        return (f'<li class="all-day-item{" declined" if declined else ""}">'
                f'<span class="tag">{tag}</span> '
                f'<span class="title">{html.escape(self._title(item))}</span>'
                f"{self._join(item)}</li>")

    # -- the room board --
    def _board(self) -> str:
        t = self.text
        timed = [i for i in self.items if not i.all_day and not self._declined(i)]
        current = next((i for i in timed if i.start <= self.now < i.end), None)
        upcoming = [i for i in timed if i.start > self.now][:BOARD_NEXT]
        busy, left = t(_("Busy")), t(_("%(minutes)s min left"), minutes=self._minutes_left(
            current)) if current else ""
        if current is not None:
            now_part = (
                f'<div class="current" data-start="{_ms(current.start)}" '
                f'data-end="{_ms(current.end)}" data-state="now">'
                f'<p class="state busy">{html.escape(busy)}</p>'
                f'<p class="big-title">{html.escape(self._title(current))}</p>'
                f'<p class="times">{self._times(current)} · <span class="left">'
                f"{html.escape(left)}"
                f"</span></p>{self._join(current, big=True)}</div>")
        else:
            free = (t(_("Free until %(time)s"), time=self._when(upcoming[0].start))
                    if upcoming else t(_("Free")))
            now_part = f'<div class="current"><p class="state free">{html.escape(free)}</p></div>'
        nothing = html.escape(t(_("Nothing booked next")))
        nxt = ('<ul class="meetings">' + "".join(self._row(i) for i in upcoming) + "</ul>"
               if upcoming else f'<p class="none">{nothing}</p>')
        now_label, next_label = html.escape(t(_("Now"))), html.escape(t(_("Next")))
        return (f'<section class="now" aria-labelledby="now-h"><h2 id="now-h">'
                f"{now_label}</h2>{now_part}</section>"
                f'<section class="next" aria-labelledby="next-h"><h2 id="next-h">'
                f"{next_label}</h2>{nxt}</section>"
                f"{self._controls(current)}")

    def _minutes_left(self, item: _Item) -> int:
        return max(1, -(-int((item.end - self.now).total_seconds()) // 60))

    def _when(self, when: datetime) -> str:
        if when.date() == self.today:
            return self.text.time(when)
        return f"{self.text.day(when.date())} {self.text.time(when)}"

    def _controls(self, current: _Item | None) -> str:
        if not self.may_book:
            return ""
        t = self.text
        minutes = {m: html.escape(t(_("%(minutes)s min"), minutes=m)) for m in BOOK_MINUTES}
        lead = html.escape(t(_("Book this room now for")))
        extend = html.escape(t(_("Extend by %(minutes)s min"), minutes=EXTEND_MINUTES))
        release, heading = html.escape(t(_("End now"))), html.escape(t(_("Room booking")))
        if current is None:
            buttons = "".join(
                f'<button type="button" class="book" data-action="book" data-minutes="{m}" '
                f'id="book-{m}">{minutes[m]}</button>'
                for m in BOOK_MINUTES)
            lead = f'<p class="lead" id="booking-lead">{lead}</p>'
        else:
            ident = html.escape(str(current.meeting["id"]))
            buttons = (
                f'<button type="button" data-action="extend" data-id="{ident}" '
                f'data-minutes="{EXTEND_MINUTES}" id="extend">'
                f"{extend}"
                f'</button><button type="button" data-action="release" data-id="{ident}" '
                f'id="release">{release}</button>')
            lead = ""
        return (f'<section class="booking" aria-labelledby="booking-h"><h2 id="booking-h">'
                f"{heading}</h2>{lead}"
                # The lead names the group, so a screen reader says "Book this room now for,
                # 15 min" rather than a bare "15 min".
                f'<div class="controls" role="group" '
                f'aria-labelledby="{"booking-lead" if lead else "booking-h"}">{buttons}</div>'
                "</section>")


#: every locale this page speaks (the join block's): tests iterate over it
LOCALES = SUPPORTED
