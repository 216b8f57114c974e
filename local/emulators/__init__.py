"""Local stand-ins for Google Cloud services that tests and benchmarks start on demand.

Each helper starts its emulator on a free 127.0.0.1 port, returns its ``host:port`` and stops it
cleanly; when the emulator cannot run here it raises :class:`EmulatorUnavailable` with the exact
reason and the command that fixes it, so tests can skip with that reason.
"""


class EmulatorUnavailable(RuntimeError):
    """The emulator cannot be started on this machine (the message says why and how to fix)."""
