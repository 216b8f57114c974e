"""hybridcal's domain and adapters.

Framework-free on purpose: the Cloud Functions in ``functions/`` and the embedded runner in
``local/`` both drive this package, so nothing here imports an entry-point framework or builds
an SDK client at import time.
"""
