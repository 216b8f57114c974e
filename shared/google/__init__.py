"""The Google boundary: the only code that imports googleapiclient or google.auth and calls
``.execute()``. Domain code sees typed gateways, plain dicts and the errors in :mod:`shared.google.errors`."""
