"""The Google boundary: the only code that imports googleapiclient or google.auth and calls
``.execute()``. Domain code sees typed gateways (:class:`~shared.google.calendar.Calendar`,
:class:`~shared.google.gmail.Gmail`, :func:`~shared.google.id_tokens.verify`), plain dicts and
the errors in :mod:`shared.google.errors`; ``tests/shared/google/test_boundary.py`` keeps it so."""
