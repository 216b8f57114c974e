"""Users and workspaces: activation, validation, watch channels, renewal, the admin API."""
