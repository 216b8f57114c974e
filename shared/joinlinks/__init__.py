"""Join-link recognition: which URL in an event joins its meeting, and for which service.

``find_join_link(conference_data, location, description)`` returns a :class:`JoinLink`
(``url``, ``service`` slug, ``source`` field) or None; ``find_sip_uris(text)`` lists SIP/H.323
addresses for room devices. The services are one data table (:mod:`.catalogue`); text
cleanup is :mod:`.cleanup`; every pattern runs on RE2, so the cost is linear in the input,
whose fields are read up to :data:`MAX_FIELD_CHARS` characters (and 2,000 URL-like tokens). ``python -m shared.joinlinks``
explains the result for an event JSON or a text.
"""

from shared.joinlinks.catalogue import SERVICES, Service
from shared.joinlinks.cleanup import MAX_FIELD_CHARS
from shared.joinlinks.finder import (
    Explanation,
    JoinLink,
    explain,
    find_in_event,
    find_join_link,
)
from shared.joinlinks.sip import find_sip_uris, sip_uris_in_event

__all__ = [
    "MAX_FIELD_CHARS",
    "SERVICES",
    "Explanation",
    "JoinLink",
    "Service",
    "explain",
    "find_in_event",
    "find_join_link",
    "find_sip_uris",
    "sip_uris_in_event",
]
