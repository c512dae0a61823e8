"""smartsync-tui: keeps TOTVS Identity in sync with Active Directory."""

__version__ = "0.1.0"
