"""A server-rendered meetings page with Join buttons (no build step, no framework).

The first paint is plain HTML, so it works without JavaScript; a few lines of script then
re-read ``./meetings`` every ``refresh`` seconds with the same credentials and redraw the
list, so a meeting scheduled or patched elsewhere appears without a reload. Every value is
HTML-escaped on the server and inserted as text by the script (never as markup), and join
links are only rendered for http(s) URLs.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

_SCRIPT = """
(function () {
  var root = document.getElementById('meetings');
  var token = root.dataset.token, every = Number(root.dataset.refresh) * 1000;
  function safe(url) { return /^https?:\\/\\//i.test(url || '') ? url : null; }
  function row(m) {
    var li = document.createElement('li'); li.className = 'meeting'; li.dataset.id = m.id;
    var when = document.createElement('time'); when.textContent = m.all_day ? m.start :
      m.start.slice(11, 16) + ' - ' + m.end.slice(11, 16) + ' ' + m.start.slice(0, 10);
    var title = document.createElement('span'); title.className = 'title';
    title.textContent = m.title || '(no title)';
    li.append(when, title);
    if (safe(m.join_url)) {
      var a = document.createElement('a'); a.className = 'join'; a.href = m.join_url;
      a.target = '_blank'; a.rel = 'noopener'; a.textContent = 'Join';
      li.append(a);
    }
    return li;
  }
  function refresh() {
    fetch('meetings', {headers: {'Authorization': 'Bearer ' + token}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        var list = document.createElement('ul'); list.id = 'list';
        body.meetings.forEach(function (m) { list.append(row(m)); });
        if (!body.meetings.length) {
          var empty = document.createElement('li'); empty.textContent = 'No meetings';
          list.append(empty);
        }
        document.getElementById('list').replaceWith(list);
        root.dataset.updated = String(Date.now());
      })
      .catch(function () { root.dataset.error = 'refresh failed'; });
  }
  setInterval(refresh, every);
})();
"""

_STYLE = """
body { font: 15px system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }
h1 { font-size: 1.3rem; } ul { list-style: none; padding: 0; max-width: 40rem; }
li.meeting { display: flex; gap: 1rem; align-items: center; padding: .6rem 0;
             border-bottom: 1px solid #ddd; }
time { color: #555; min-width: 10rem; } .title { flex: 1; }
a.join { background: #0a7d32; color: #fff; padding: .35rem .9rem; border-radius: 1rem;
         text-decoration: none; font-weight: 600; }
"""


def _row(meeting: dict[str, Any]) -> str:
    start, end = meeting["start"], meeting["end"]
    when = start if meeting.get("all_day") else f"{start[11:16]} - {end[11:16]} {start[:10]}"
    url = meeting.get("join_url") or ""
    join = (f'<a class="join" href="{html.escape(url)}" target="_blank" rel="noopener">Join</a>'
            if url.lower().startswith(("https://", "http://")) else "")
    return (f'<li class="meeting" data-id="{html.escape(meeting["id"])}">'
            f"<time>{html.escape(when)}</time>"
            f'<span class="title">{html.escape(meeting.get("title") or "(no title)")}</span>'
            f"{join}</li>")


def render(email: str, meetings: list[dict[str, Any]], now: datetime, *, token: str = "",
           refresh_seconds: int = 30) -> str:
    """The page for ``email``; ``token`` is what the script sends when it refreshes."""
    rows = "".join(_row(m) for m in meetings) or "<li>No meetings</li>"
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>Meetings</title><style>{_STYLE}</style></head><body>"
        f"<h1>Upcoming meetings for {html.escape(email)}</h1>"
        f'<main id="meetings" data-token="{html.escape(token)}" '
        f'data-refresh="{int(refresh_seconds)}" data-rendered="{html.escape(now.isoformat())}">'
        f'<ul id="list">{rows}</ul></main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
