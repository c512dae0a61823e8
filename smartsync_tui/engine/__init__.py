"""The engine: plan, run, schedule, the lock and the service that composes them.

It imports neither ldap3, httpx, textual nor a concrete target: targets are reached through
targets/registry.py by name (tests/test_layers.py holds it)."""
