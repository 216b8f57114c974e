"""SIP / H.323 addresses in invitation text, for room video systems.

Room devices dial ``sip:``/``sips:``/``h323:`` URIs, and invitations often print the bare
address instead (``2512345678@acme.webex.com``). A bare ``name@host`` is only taken when the
host is a known video-interop domain: anything else is an e-mail address. Results keep the
form they were written in (with or without the scheme), in order, without duplicates.
Like join links, the first MAX_FIELD_CHARS characters and MAX_CANDIDATES matches are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import re2

from shared.joinlinks.cleanup import MAX_CANDIDATES, bound

# Video-interop domains whose bare addresses are dialable (sub-domain required for webex.com,
# whose bare ``x@webex.com`` are mailboxes).
_VIDEO_DOMAINS = (r"(?:[a-z0-9-]+\.)+webex\.com|(?:[a-z0-9-]+\.)*(?:zoomcrc\.com|zoomgov\.com|"
                  r"bjn\.vc|lifesizecloud\.com|plcm\.vc|pexip\.me|meet\.chime\.in|starleaf\.com|"
                  r"vc\.ringcentral\.com|mmr\.vidyocloud\.com)")
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_ADDRESS = re2.compile(
    r"(?i)(?:sips?|h323):[a-z0-9._%+#*=-]+(?:@[a-z0-9-]+(?:\.[a-z0-9-]+)*)?(?:;[a-z0-9=._-]+)*"
    r"|[a-z0-9._%+=-]+@(?:" + _VIDEO_DOMAINS + ")",
    _OPTIONS)


def find_sip_uris(text: str | None) -> list[str]:
    """``sip:``/``sips:``/``h323:`` URIs and bare video addresses in ``text``, in order."""
    if not text:
        return []
    text = bound(text)
    found: list[str] = []
    for count, match in enumerate(_ADDRESS.finditer(text)):
        if count >= MAX_CANDIDATES:
            break
        address, start, end = match.group(), match.start(), match.end()
        if "@" in address and ":" not in address.split("@", 1)[0]:  # a bare address
            if text[max(0, start - 7):start].lower().endswith("mailto:") or (
                    start and text[start - 1] in "/:"):
                continue
            if _host_goes_on(text[end:end + 2]):
                continue
        address = address.rstrip(".-")
        if address not in found:
            found.append(address)
    return found


def _host_goes_on(after: str) -> bool:
    """``x@acme.webex.com.evil.org``: the domain matched is only the start of another one."""
    first = after[:1]
    return bool(first) and (first.isalnum() or first == "-" or (
        first == "." and after[1:2].isalnum()))


def sip_uris_in_event(event: Mapping[str, Any]) -> list[str]:
    """SIP URIs of a Calendar v3 event: conferenceData ``sip`` entry points, then Location,
    then description."""
    found: list[str] = []
    for entry in (event.get("conferenceData") or {}).get("entryPoints") or ():
        if isinstance(entry, Mapping) and entry.get("entryPointType") == "sip":
            uri = entry.get("uri")
            if isinstance(uri, str) and uri and uri not in found:
                found.append(uri)
    for field in ("location", "description"):
        value = event.get(field)
        for uri in find_sip_uris(value if isinstance(value, str) else None):
            if uri not in found:
                found.append(uri)
    return found
