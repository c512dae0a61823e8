"""The Identity target: its agent API client, its credentials, its filters and required fields,
and pass-through authentication (login checks), which is an Identity feature."""
