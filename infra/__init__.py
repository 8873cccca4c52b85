"""Settings, the payload codec and the Temporal connection, shared by the worker and the API."""
