"""One calendar, as one delegated principal: every Calendar v3 operation hybridcal uses.

This is the only place that builds Calendar requests, sets ``If-Match`` or calls
``.execute()``. Each method takes and returns plain dicts in Google's JSON shape (the event
resource is Google's own, so copying it into dataclasses would only lose fields we pass
through) and raises the errors in :mod:`shared.google.errors`, never a googleapiclient one.
Every call goes through :func:`~shared.google.errors.call_google` (backoff on quota and 5xx).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from shared.clock import to_rfc3339
from shared.google.errors import GoneOrMissing, call_google

PAGE_SIZE = 2500  # events.list / events.instances maximum

# Google refuses timeMin, timeMax, orderBy, q, updatedMin and iCalUID together with syncToken,
# and a token is only valid with the parameters of the full sync that produced it: the sync
# engine lists with exactly these, full or incremental.
LIST_PARAMS: dict[str, Any] = {"maxResults": PAGE_SIZE, "singleEvents": False}
# Google's defaults for the settings hybridcal reads (Calendar v3 reference, "Settings").
SETTING_DEFAULTS = {"locale": "en", "timezone": "Etc/GMT"}


class Calendar:
    """``calendar_id`` read and written as the principal whose resource this wraps.

    The resource is a googleapiclient ``Resource`` built by :class:`~shared.google.factory.
    WorkspaceFactory`; callers never see it.
    """

    def __init__(self, resource: Any, *, calendar_id: str = "primary",
                 sleep: Callable[[float], None] | None = None) -> None:
        self._resource = resource  # Any: googleapiclient ships no type information
        self.calendar_id = calendar_id
        self._sleep = sleep

    @property
    def list_signature(self) -> str:
        """A fingerprint of the ``events.list`` parameters a sync token is made with: stored
        beside the token, so a release that lists differently (or another calendar) resyncs
        instead of sending a token Google made for another listing. Hashed: a room calendar's
        id is an address."""
        shape = json.dumps({**LIST_PARAMS, "calendarId": self.calendar_id}, sort_keys=True)
        return hashlib.sha256(shape.encode()).hexdigest()[:16]

    # Any: googleapiclient ships no types (an HttpRequest in, Google's JSON answer out)
    def _run(self, request: Any, *, etag: str | None = None) -> Any:
        if etag:
            request.headers["If-Match"] = etag
        return call_google(request.execute, sleep=self._sleep)

    # -- events --------------------------------------------------------------------------
    def list_page(self, *, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        """One page of ``events.list``: a full listing without ``sync_token``, else the
        changes since it (410 → :class:`~shared.google.errors.SyncTokenExpired`)."""
        params: dict[str, Any] = {**LIST_PARAMS, "calendarId": self.calendar_id}
        if sync_token:
            params["syncToken"] = sync_token
        if page_token:
            params["pageToken"] = page_token
        return dict(self._run(self._resource.events().list(**params)))

    def instances(self, event_id: str, time_min: datetime, time_max: datetime
                  ) -> list[dict[str, Any]]:
        """Every occurrence of a recurring event within the window (all pages)."""
        items: list[dict[str, Any]] = []
        page_token = None
        while True:
            page = self._run(self._resource.events().instances(
                calendarId=self.calendar_id, eventId=event_id, timeMin=to_rfc3339(time_min),
                timeMax=to_rfc3339(time_max), maxResults=PAGE_SIZE, pageToken=page_token))
            items.extend(page.get("items") or [])
            page_token = page.get("nextPageToken")
            if not page_token:
                return items

    def get(self, event_id: str) -> dict[str, Any]:
        return dict(self._run(self._resource.events().get(calendarId=self.calendar_id,
                                                          eventId=event_id)))

    def patch(self, event_id: str, body: dict[str, Any], *, etag: str | None,
              send_updates: str = "none",
              conference_data_version: int | None = None) -> dict[str, Any]:
        """Patch only the fields in ``body``; with ``etag``, a concurrent edit answers
        :class:`~shared.google.errors.EtagMismatch` instead of being overwritten."""
        kwargs: dict[str, Any] = {"calendarId": self.calendar_id, "eventId": event_id,
                                  "body": body, "sendUpdates": send_updates}
        if conference_data_version is not None:
            kwargs["conferenceDataVersion"] = conference_data_version
        return dict(self._run(self._resource.events().patch(**kwargs), etag=etag))

    def insert(self, body: dict[str, Any], *, send_updates: str = "none") -> dict[str, Any]:
        return dict(self._run(self._resource.events().insert(
            calendarId=self.calendar_id, sendUpdates=send_updates, body=body)))

    def delete(self, event_id: str, *, send_updates: str = "none") -> None:
        self._run(self._resource.events().delete(calendarId=self.calendar_id,
                                                 eventId=event_id, sendUpdates=send_updates))

    def quick_add(self, text: str, *, send_updates: str = "all") -> dict[str, Any]:
        return dict(self._run(self._resource.events().quickAdd(
            calendarId=self.calendar_id, text=text, sendUpdates=send_updates)))

    # -- push channels -------------------------------------------------------------------
    def watch(self, *, channel_id: str, address: str, token: str,
              ttl_seconds: int) -> dict[str, Any]:
        """``events.watch``: Google answers with ``resourceId`` and ``expiration`` (epoch ms)."""
        return dict(self._run(self._resource.events().watch(calendarId=self.calendar_id, body={
            "id": channel_id, "type": "web_hook", "address": address, "token": token,
            "params": {"ttl": str(ttl_seconds)}})))

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        self._run(self._resource.channels().stop(body={"id": channel_id,
                                                       "resourceId": resource_id}))

    # -- sharing, settings, free/busy ----------------------------------------------------
    def acl_insert(self, *, role: str, user: str,
                   send_notifications: bool = False) -> dict[str, Any]:
        """Share this calendar with ``user`` (e.g. a room with the room reader)."""
        return dict(self._run(self._resource.acl().insert(
            calendarId=self.calendar_id, sendNotifications=send_notifications,
            body={"role": role, "scope": {"type": "user", "value": user}})))

    def acl_delete(self, rule_id: str) -> None:
        self._run(self._resource.acl().delete(calendarId=self.calendar_id, ruleId=rule_id))

    def time_zone(self) -> str:
        """The calendar's own time zone (``calendars.get``): for a room, what its board shows;
        the room has no user settings to ask."""
        answer = self._run(self._resource.calendars().get(calendarId=self.calendar_id))
        return str(answer.get("timeZone") or SETTING_DEFAULTS["timezone"])

    def setting(self, name: str) -> str:
        """The principal's own setting (``locale``, ``timezone``), as Google's string.

        "If a setting has its default value, it might not be returned" (Calendar settings
        reference): a 404 or an answer without ``value`` is Google's documented default.
        """
        try:
            answer = self._run(self._resource.settings().get(setting=name))
        except GoneOrMissing:
            if name in SETTING_DEFAULTS:
                return SETTING_DEFAULTS[name]
            raise
        value = answer.get("value")
        if value is None and name in SETTING_DEFAULTS:
            return SETTING_DEFAULTS[name]
        return str(value)

    def freebusy(self, time_min: datetime, time_max: datetime,
                 calendar_ids: Sequence[str]) -> dict[str, Any]:
        """``freebusy.query`` for at most 50 calendars (Google's ``calendarExpansionMax``);
        answers ``{"calendars": {id: {"busy": [...]} | {"errors": [...]}}}``."""
        return dict(self._run(self._resource.freebusy().query(body={
            "timeMin": to_rfc3339(time_min), "timeMax": to_rfc3339(time_max),
            "items": [{"id": c} for c in calendar_ids]})))
