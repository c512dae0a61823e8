"""A directory's settings for a throw-away DC (the demo's and the tests')."""

from __future__ import annotations

from typing import Any

from smartsync_tui.config.settings import DirectorySettings


def dc_directory(dc: Any, **overrides: Any) -> DirectorySettings:
    """LDAPS with the DC's own CA validated, by IP with the certificate's name, bound as Administrator.

    ``dc`` is anything with host, ca_file, tls_server_name, admin_user and base_dn
    (samba_dc.DCInfo, the test fixture's SambaDC).
    """
    values: dict[str, Any] = dict(
        server=dc.host,
        tls="ldaps",
        ca_file=str(dc.ca_file),
        tls_server_name=dc.tls_server_name,
        bind_user=dc.admin_user,
        base_dn=dc.base_dn,
    )
    values.update(overrides)
    return DirectorySettings(**values)
