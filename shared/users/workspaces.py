"""Workspaces: meeting rooms whose devices get the meetings list and join notifications.

Resource (room) calendars cannot be impersonated, so activating a workspace shares the room
calendar with the service's room reader (``acl.insert``, performed as a configured Workspace
admin through delegation); from then on the room is watched, synced and indexed like a user's
calendar, read as the room reader.

The role is ``writer``, not ``reader``: to a reader, Google shows a private event as a busy
block with its details hidden (Calendar ACL reference), so a private meeting the room was
invited to would have no join link on the room's devices. The service never writes to a room
calendar. What a device then shows of a private meeting is decided in
:mod:`shared.changes.processing`: its time and join link, not its title or its people. Deactivation stops the watch, forgets and
crypto-shreds the room's data like a user's, and removes the sharing rule (``acl.delete``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shared.google.errors import (
    DelegationRefused,
    GoneOrMissing,
    GooglePermanentError,
    GoogleTransientError,
    SigningRefused,
)
from shared.users import provisioning
from shared.users.status import (
    COLLECTION,
    ValidationFailed,
    current_record,
    fully_active,
    record_active,
    record_deferred,
    record_failure,
)
from shared.users.watch import ensure_channel

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)
ROOM_ROLE = "writer"  # the least role that shows private events' join details (docstring)


def activate_workspace(services: Services, room: str) -> str:
    """Share, watch and index a room calendar; returns the resulting status."""
    room, user_id, current = current_record(services, room)
    if fully_active(current):
        return "active"
    admin, reader = services.config.workspace_admin, services.config.room_reader
    base = {"email": room, "user_id": user_id, "kind": "workspace", "acts_as": reader,
            "calendar_id": room, "locale": "en", "timezone": "UTC"}
    if not admin or not reader:
        return _error(services, user_id, base, "workspace_not_configured",
                      "Set HYBRIDCAL_WORKSPACE_ADMIN and HYBRIDCAL_ROOM_READER to activate "
                      "workspaces.")
    services.store.merge(COLLECTION, user_id, {**base, "status": "validating"})
    try:
        rule = services.workspace.calendar(admin, room).acl_insert(role=ROOM_ROLE, user=reader)
        # the board shows the room's own zone (a room has no settings; its calendar has one)
        base["timezone"] = services.workspace.calendar(reader, room).time_zone()
        ensure_channel(services, user_id, reader, room)
    except SigningRefused as exc:  # the service's own IAM grant, not the admin's delegation
        return record_failure(services, user_id, ValidationFailed(
            "service_cannot_sign", exc.description), base=base, kind="workspace")
    except DelegationRefused:
        return _error(services, user_id, base, "workspace_admin_not_delegated",
                      f"The service cannot act as {admin} or {reader}: authorise its client ID "
                      "for the Calendar scope in the Admin console and check both accounts.")
    except GoneOrMissing:
        return _error(services, user_id, base, "room_not_found",
                      "No resource calendar with this address: use the room's calendar "
                      "address from Admin console > Buildings and resources.")
    except GooglePermanentError as exc:
        return _error(services, user_id, base, "room_not_shareable",
                      f"{admin} may not share this room calendar ({exc.status} {exc.reason}); "
                      "use a Workspace admin with rights on calendar resources.")
    except GoogleTransientError:
        return record_deferred(services, user_id, base=base)
    return record_active(services, user_id, {**base, "acl_rule_id": rule["id"]},
                         kind="workspace")


def deactivate_workspace(services: Services, room: str) -> str:
    """Stop the watch, shred the room's data, and take back the sharing rule."""
    room, user_id, doc = current_record(services, room)
    status = provisioning.deactivate(services, room)
    rule_id, admin = doc.get("acl_rule_id"), services.config.workspace_admin
    if rule_id and admin:
        try:
            services.workspace.calendar(admin, room).acl_delete(rule_id)
        except GoneOrMissing:
            pass  # already removed by an admin
        services.store.merge(COLLECTION, user_id, {"acl_rule_id": None})
    return status


def _error(services: Services, user_id: str, base: dict[str, Any], code: str, reason: str) -> str:
    return record_failure(services, user_id, ValidationFailed(code, reason), base=base,
                          kind="workspace")
