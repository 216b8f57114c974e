"""Calendar changes, from Google's push to processed events: intake, the sync engine, processing."""
