"""Messaging behind one small Protocol (see :mod:`shared.bus.base`).

Adapters: :mod:`shared.bus.local` (in-process, embedded mode and tests) and
:mod:`shared.bus.pubsub` (Cloud Pub/Sub). Import the one you need directly.
"""

from shared.bus.base import Bus, Message, Topics

__all__ = ["Bus", "Message", "Topics"]
