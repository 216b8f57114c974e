// The meetings page's only script: relative times, Join prominence, refresh, offline notice,
// and the room board's booking buttons. No framework, no build step. Text arrives translated
// in #strings; times the server rendered stay as they are, and the clock is the server's
// (the offset to it is re-learnt on every refresh), so a device with a wrong clock is right.
(function () {
  'use strict';
  var app = document.getElementById('app');
  var T = JSON.parse(document.getElementById('strings').textContent);
  var every = Number(app.dataset.refresh) * 1000;
  var tickMs = Number(app.dataset.tick) * 1000;
  var early = Number(app.dataset.joinEarly) * 60000;
  var skew = 0, inflight = null;
  var TIMEOUT_MS = 15000;  // a hung request counts as offline, not as still loading

  function content() { return document.getElementById('content'); }
  function sync() { skew = Number(content().dataset.now) - Date.now(); }
  function now() { return Date.now() + skew; }
  function fill(template, name, value) { return template.split('{' + name + '}').join(String(value)); }

  function stateAt(start, end, t) {
    if (t >= end) return 'ended';
    if (t >= start) return 'now';
    return start - t <= 3600000 ? 'soon' : 'later';
  }

  function tick() {
    var t = now(), crossed = false;
    document.querySelectorAll('[data-start]').forEach(function (el) {
      var start = Number(el.dataset.start), end = Number(el.dataset.end);
      var state = stateAt(start, end, t);
      if (el.dataset.state !== state && (state === 'now' || state === 'ended')) crossed = true;
      el.dataset.state = state;
      var rel = el.querySelector('.rel');
      if (rel) {
        var wait = start - t;
        rel.textContent = state === 'ended' ? T.ended : state === 'now' ? T.now :
          state === 'soon' ? fill(T.in_min, 'n', Math.max(1, Math.ceil(wait / 60000))) :
          wait < 86400000 ? fill(T.in_h, 'n', Math.floor(wait / 3600000)) : '';
      }
      var left = el.querySelector('.left');
      if (left && state === 'now') left.textContent = fill(T.left, 'n', Math.max(1, Math.ceil((end - t) / 60000)));
      var join = el.querySelector('a.join');
      if (join) {
        var on = t >= start - early && t < end && !el.classList.contains('declined');
        join.classList.toggle('primary', on);
        join.classList.toggle('quiet', !on);
      }
    });
    app.dataset.ticked = String(t);
    if (crossed && app.dataset.board) refresh();
  }

  function offline(on, signedOut) {
    var note = document.getElementById('offline');
    if (on) note.textContent = signedOut ? T.signed_out :
      fill(T.offline, 'time', content().dataset.updatedLabel);
    note.hidden = !on;
  }

  // One request at a time. The timer's refreshes skip while one is out; a booking's waits for
  // it and then asks again, so the board it redraws already shows the booking.
  function refresh(after) {
    if (inflight) return after ? inflight.then(function () { return refresh(); }) : inflight;
    var stop = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = stop && setTimeout(function () { stop.abort(); }, TIMEOUT_MS);
    inflight = fetch('page?part=content', {credentials: 'same-origin', cache: 'no-store',
                                           headers: {'X-Hybridcal-Page': '1'},
                                           signal: stop ? stop.signal : undefined})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('content');
        if (!fresh) throw new Error('no content');
        var focused = document.activeElement && document.activeElement.id;
        content().replaceWith(document.adoptNode(fresh));
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        sync(); tick(); offline(false);
        delete app.dataset.error;
        app.dataset.updated = String(Date.now());
      })
      .catch(function (status) {
        // 401: the page's session ended (expired, or its token was revoked); else offline.
        offline(true, status === 401);
        app.dataset.error = status === 401 ? 'signed out' : 'refresh failed';
      })
      .then(function () { clearTimeout(timer); inflight = null; });
    return inflight;
  }

  function clock(iso) {
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang,
        {hour: 'numeric', minute: '2-digit', timeZone: app.dataset.tz}).format(new Date(iso));
    } catch (e) { return iso.slice(11, 16); }
  }

  function busyUntil(body) {
    var e = body && (body.error || body);
    return (body && (body.busy_until || body.until)) || (e && (e.busy_until || e.until)) || '';
  }

  function say(text) {
    var status = document.getElementById('booking-status');
    if (status) status.textContent = text;
  }

  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-action]');
    if (!button) return;
    var action = button.dataset.action;
    var url = action === 'book' ? 'bookings' :
      'bookings/' + encodeURIComponent(button.dataset.id) + ':' + action;
    var body = action === 'release' ? {} : {minutes: Number(button.dataset.minutes)};
    button.disabled = true;
    app.dataset.booking = 'pending';
    fetch(url, {method: 'POST', credentials: 'same-origin', cache: 'no-store',
                headers: {'Content-Type': 'application/json', 'X-Hybridcal-Page': '1'},
                body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().catch(function () { return {}; })
          .then(function (json) { return {status: r.status, body: json}; });
      })
      .then(function (answer) {
        var until = busyUntil(answer.body);
        if (answer.status === 200 || answer.status === 201) {
          say(action === 'release' ? T.released : fill(T.booked_until, 'time', clock(answer.body.end)));
        } else if (answer.status === 409) {
          say(action === 'extend' ? T.conflict : until ? fill(T.busy_until, 'time', clock(until)) : T.busy);
        } else {
          say(T.failed);
        }
        // The board redraws first, then says it is done (tests and devices can rely on it).
        return refresh(true).then(function () { app.dataset.booking = String(answer.status); });
      }, function () { say(T.failed); app.dataset.booking = 'error'; })
      .then(function () { button.disabled = false; });
  });

  sync();
  tick();
  setInterval(tick, tickMs);
  setInterval(function () { refresh(); }, every);
})();
