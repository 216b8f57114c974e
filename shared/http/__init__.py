"""Framework-free HTTP pieces the JSON APIs share: request/response types, routing, bearer tokens."""
