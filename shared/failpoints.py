"""Named points where the chaos run may kill a handler, as a crashed instance would be killed.

Production never installs an injector, so :func:`hit` is one global read. The embedded stack's
chaos mode (:meth:`local.stack.LocalStack.crash_handlers`) installs one that raises
:class:`SimulatedCrash` at a chosen point of a chosen handler invocation. ``SimulatedCrash``
derives from ``BaseException`` on purpose: ``except Exception`` clean-up (releasing a lease,
a claim) does not run, exactly as it would not run in an instance that died; only ``finally``
blocks and context managers do, which in a real crash the database's own rollback stands in for.

Points (the order a message handler meets them):

* ``handler.start``: before any side effect;
* ``google.after_call``: a Google call returned (a write is applied, its answer not yet used);
* ``store.after_write``: a store write committed;
* ``bus.after_publish``: a message was published;
* ``handler.after_side_effects``: the route returned, the message is not yet marked done;
* ``handler.before_ack``: marked done, the acknowledgement not yet sent.
"""

from __future__ import annotations

from collections.abc import Callable

_injector: Callable[[str], None] | None = None


class SimulatedCrash(BaseException):
    """The instance running the handler died at ``point``."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


def hit(point: str) -> None:
    """Mark that execution reached ``point`` (no-op unless a chaos injector is installed)."""
    if _injector is not None:
        _injector(point)


def install(injector: Callable[[str], None] | None) -> None:
    """Install (or with ``None`` remove) the process-wide injector."""
    global _injector
    _injector = injector
