"""The AD source: connecting to a domain controller, reading users and groups, checking logins.

The only package that imports ldap3 (tests/test_layers.py holds it)."""
