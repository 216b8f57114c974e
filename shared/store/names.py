"""Every collection (Firestore) or table (SQLite) the service keeps, named once.

``PER_USER_BY_KEY`` and ``PER_USER_BY_FIELD`` list what belongs to one user, so deactivation
derives what to forget from here: a new per-user collection added to them is shredded with the
user, and one left out of every list fails ``tests/shared/users/test_deactivation.py``.
``USER_FIELDS_PER_FEATURE`` lists what a feature keeps on the user record itself (where a query
of users reads it for free); deactivation clears those fields and keeps the record.
"""

from __future__ import annotations

USERS = "users"  # users/{user_id}: status, reason, locale, time zone (kept after deactivation)
CHANNELS = "channels"  # channels/{channel_id}: push channels (a renewed one deleted, a deactivated user's stopped)
SYNC = "sync"  # sync/{user_id}: sync token, when its listing began and last committed
MEETINGS = "meetings"  # meetings/{user_id|event}: the sealed meetings index
SERIES = "series"  # series/{...}: recurring masters expanded into the index
DATA_KEYS = "data_keys"  # data_keys/{...}: wrapped per-user data keys (shredded)
ATTEMPTS = "attempts"  # attempts/{topic:message id}: delivery attempts (TTL)
RATELIMITS = "ratelimits"  # ratelimits/{name|minute}: counters, the notify tick lease (TTL)
ORPHAN_STOPS = "orphan_stops"  # orphan_stops/{channel_id}: stops asked for once (TTL)

# Documents whose key is the user id.
PER_USER_BY_KEY = (SYNC,)
# Fields of users/{user_id} that belong to a feature: ``presence`` (out-of-office state, read
# by the vacation tick's query of users).
USER_FIELDS_PER_FEATURE = ("presence",)
# Documents that carry a ``user_id`` field.
PER_USER_BY_FIELD = (MEETINGS, SERIES)
# Per-user data with its own way out: channels are stopped at Google (their records kept, as
# stopped), data keys are crypto-shredded by the sealer, the user record keeps the status.
PER_USER_HANDLED_APART = (CHANNELS, DATA_KEYS, USERS)
# Not per user: delivery bookkeeping and counters, which expire through TTL.
NOT_PER_USER = (ATTEMPTS, RATELIMITS, ORPHAN_STOPS)
