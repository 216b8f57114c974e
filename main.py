"""Source root of every deployed Cloud Function.

Each name below is a deploy target (``--entry-point``); ``infra/`` and the tests check that the
two agree. Importing this module must stay cheap: no Google client, Tink or Cloud library is
imported here, each entry point loads what it needs on first use.
"""

from functions.dispatch_join_notifications import dispatch_join_notifications
from functions.intake_push import intake_push
from functions.meetings_api import meetings_api
from functions.poll_vacations import poll_vacations
from functions.process_changes import process_changes
from functions.provision_users import provision_users
from functions.renew_watches import renew_watches

__all__ = [
    "dispatch_join_notifications",
    "intake_push",
    "meetings_api",
    "poll_vacations",
    "process_changes",
    "provision_users",
    "renew_watches",
]
