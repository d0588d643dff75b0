"""Schema migrations: the `platform-migrate` CLI and the compatibility rule the API shares."""
