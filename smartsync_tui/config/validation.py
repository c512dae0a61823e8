"""Checks on what an admin types, shared by the CLI, the console and the
settings file, so the same value is refused the same way everywhere.

Each ``check_*`` returns the cleaned value or raises ``ValueError`` whose text
says what to fix (pydantic turns it into a field error; the CLI and the
console wrap it in :class:`~smartsync_tui.core.errors.InputError`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from smartsync_tui.core.bounded_read import FileTooLarge, NotARegularFile, read_regular_file
from smartsync_tui.core.dn import is_dn
from smartsync_tui.i18n import _, ngettext

# A DNS name: labels of letters, digits and hyphens (underscores are tolerated
# because some AD sites use them in host names).
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")
# Tokens are opaque strings copied from Identity: URL-safe/base64 characters.
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
_DIRECTORY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _typed_scheme(text: str) -> str:
    """The scheme at the start of ``text`` as it was typed ("ldaps://", "HTTPS://", "ldap:"), or ""."""
    head, sep, _rest = text.partition("://")
    if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head):
        return head + sep
    match = re.match(r"(?i)ldaps?:", text)  # "ldap:dc1": the slashes forgotten
    return match.group(0) if match else ""


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost, by its text alone (no DNS: a name that resolves to loopback today
    may not tomorrow); anything else (0.0.0.0, a LAN address, another name) is not."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_server(value: str) -> str:
    """An AD server: only an IP address or a host name (the original's rule)."""
    text = (value or "").strip()
    if not text:
        raise ValueError(_("give the IP address or name of the AD server"))
    scheme = _typed_scheme(text)
    if scheme:
        rest = text[len(scheme):].lstrip("/")
        raise ValueError(
            _("give only the IP or server name, without '{scheme}' (the TLS mode and the port have "
              "their own fields; for example {example})").format(
                scheme=scheme, example=rest.split('/', 1)[0].split(':', 1)[0] or 'dc1.example.com')
        )
    if text.startswith("[") or (":" in text and not is_ip_address(text)):
        raise ValueError(
            _("give only the IP or server name, without the port (set the port in its own field)")
        )
    if "/" in text or " " in text:
        raise ValueError(_("give only the IP or server name (no path, no spaces)"))
    if not (is_ip_address(text) or _HOSTNAME.match(text)):
        raise ValueError(_("'{text}' is not an IP address or a host name").format(text=text))
    return text


def check_port(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(_("a port is a whole number from 1 to 65535"))
    return value


def check_base_dn(value: str) -> str:
    """A distinguished name such as ``DC=example,DC=com``."""
    text = (value or "").strip()
    if not text:
        raise ValueError(_("give the base DN, for example DC=example,DC=com"))
    scheme = _typed_scheme(text)
    if scheme:
        raise ValueError(_("the base DN is a DN such as DC=example,DC=com, not an address ('{scheme}...')").format(
            scheme=scheme))
    if "=" not in text and _HOSTNAME.match(text) and "." in text.strip("."):
        # A domain typed where its DN belongs: the DN is one DC= per label.
        labels = [label for label in text.strip(".").split(".") if label]
        raise ValueError(
            _("'{text}' is a domain name, not a DN: write it as {dn}").format(
                text=text, dn=','.join('DC=' + label for label in labels))
        )
    if not is_dn(text):
        raise ValueError(
            _("'{text}' is not a valid DN: write it as attribute=value pairs separated by "
              "commas, for example DC=example,DC=com or OU=Staff,DC=example,DC=com").format(text=text)
        )
    return text


def check_environment_host(value: str) -> str:
    """The Identity environment: a host name (optionally ``:port``), no scheme, no path."""
    text = (value or "").strip().rstrip("/")
    if not text:
        raise ValueError(_("give the Identity environment's host, for example app.fluigidentity.com"))
    scheme = _typed_scheme(text)
    if scheme:
        raise ValueError(
            _("give the environment's host without '{scheme}' (choose the protocol separately), "
              "for example {example}").format(
                scheme=scheme, example=text[len(scheme):].lstrip('/').split('/', 1)[0] or 'app.fluigidentity.com')
        )
    if "/" in text:
        raise ValueError(_("give only the environment's host, without a path"))
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if sep:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(_("the port after ':' must be a number from 1 to 65535"))
    else:
        host = text
    if ":" in host:
        raise ValueError(_("give Identity's host name (an IPv6 address cannot be used here)"))
    if not (_HOSTNAME.match(host) or is_ip_address(host)):
        raise ValueError(_("'{host}' is not a host name").format(host=host))
    return text


def check_proxy_host(value: str) -> str:
    """A proxy: its host name or IPv4 address only; the port has its own field."""
    text = (value or "").strip()
    scheme = _typed_scheme(text)
    if scheme:
        raise ValueError(_("give only the proxy's host, without '{scheme}'").format(scheme=scheme))
    if ":" in text:
        raise ValueError(_("give only the proxy's host name or IPv4 address; the port has its own field"))
    if not (is_ip_address(text) or _HOSTNAME.match(text)):
        raise ValueError(_("'{text}' is not a host name or an IPv4 address").format(text=text))
    return text


def check_web_url(value: str) -> str:
    """Where the browser console listens: http://HOST:PORT."""
    parsed = urlsplit((value or "").strip())
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or port is None:
        raise ValueError(_("give the address as http://HOST:PORT, for example http://127.0.0.1:5325"))
    return value.strip()


def parse_listen(value: str) -> tuple[str, int] | None:
    """Where the status endpoints listen: ``HOST:PORT`` (an IPv6 address in brackets,
    ``[::1]:9325``; port 0 picks a free one); empty: nowhere (the listener is off)."""
    text = (value or "").strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            host = ""
    if not sep or not host or not port.isascii() or not port.isdigit() or int(port) > 65535 or not host.isprintable() \
            or any(c in host for c in " /[]@"):
        raise ValueError(_("give the status address as HOST:PORT, for example 127.0.0.1:9325 "
                           "(empty turns the status endpoints off)"))
    return host, int(port)


def check_status_listen(value: str) -> str:
    parse_listen(value)
    return (value or "").strip()


def check_oauth_text(value: str) -> str:
    """An OAuth2 client id or scope: printable, one line, bounded."""
    text = (value or "").strip()
    if not text or len(text) > 1024 or not text.isprintable():
        raise ValueError(_("give the OAuth2 client id and scope as one line of printable text"))
    return text


def check_scim_url(value: str, *, what: str | None = None) -> str:
    """A SCIM service provider's base URL: https (plain http only to this machine's loopback, where a
    test server listens), a host, an optional path; no query, no fragment, no user or password in it.
    ``what``: another URL held to the same rule (the OAuth2 token URL), named so in the messages."""
    if what is not None:
        try:
            return check_scim_url(value)
        except ValueError as exc:
            raise ValueError(_("{what}: {problem}").format(what=what, problem=exc)) from None
    text = (value or "").strip()
    parsed = urlsplit(text)
    try:
        parsed.port  # noqa: B018 (read for its check: urlsplit refuses a port that is not 1-65535 only here)
    except ValueError:
        raise ValueError(_("the port in the SCIM URL must be a number from 1 to 65535")) from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(_("give the SCIM base URL as https://HOST/PATH, for example https://scim.example.com/scim/v2"))
    if parsed.username is not None or parsed.password is not None:
        raise ValueError(_("give the SCIM URL without a user or password: the token is entered apart (--token-stdin)"))
    if parsed.query or parsed.fragment or "?" in text or "#" in text:
        raise ValueError(_("give the SCIM base URL without '?' or '#'"))
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise ValueError(_("the SCIM URL must not hold spaces or control characters"))
    if parsed.scheme == "http" and not is_loopback_host(parsed.hostname):
        # The bearer token would cross the network in the clear.
        raise ValueError(_("a SCIM URL must use https (plain http only to 127.0.0.1 or localhost)"))
    return text.rstrip("/")


#: What a SCIM mapping may name as its path: ``attr``, ``attr.sub``, or either behind a schema URN
#: (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter``).
_SCIM_PATH = re.compile(r"(urn:[A-Za-z0-9][A-Za-z0-9:._-]*:)?[A-Za-z][A-Za-z0-9_$-]*(\.[A-Za-z][A-Za-z0-9_$-]*)?")
#: Paths the agent owns (externalId is how it knows its objects) or that are lists of values, which a
#: path of one value cannot express; lower-cased (SCIM names are case-insensitive).
_SCIM_PATHS_NOT_MAPPED = frozenset({
    "id", "externalid", "schemas", "meta", "active", "members", "groups", "password", "emails", "phonenumbers",
    "ims", "photos", "addresses", "entitlements", "roles", "x509certificates", "manager",
})
#: The engine's own payload fields: a mapped path of the same name would be taken for them.
_ENGINE_FIELDS = frozenset({
    "login", "first_name", "last_name", "email", "display_name", "job_title", "department", "external_id",
    "employee_number", "manager", "gone",
})
#: An LDAP attribute name (RFC 4512 descr): a letter, then letters, digits and hyphens.
_AD_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
#: Attributes whose values are bytes, secrets or computed per search: never a SCIM value.
_AD_ATTRIBUTES_NOT_MAPPED = frozenset({
    "objectguid", "objectsid", "sidhistory", "jpegphoto", "thumbnailphoto", "usercertificate", "usersmimecertificate",
    "userpassword", "unicodepwd", "dbcspwd", "ntpwdhistory", "lmpwdhistory", "supplementalcredentials",
    "msds-managedpassword", "ms-mcs-admpwd", "mslaps-password", "mslaps-encryptedpassword", "logonhours",
    "tokengroups", "msexchmailboxguid", "msds-keycredentiallink", "member", "memberof",
})


def check_scim_path(value: str) -> str:
    """A SCIM path a directory's mapping sends a value to."""
    text = (value or "").strip()
    if not _SCIM_PATH.fullmatch(text):
        raise ValueError(_("give the SCIM path as attribute, attribute.subattribute or SCHEMA-URN:attribute "
                           "(for example title, name.middleName or "
                           "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter)"))
    attribute = text.rsplit(":", 1)[-1].split(".", 1)[0].lower()
    if attribute in _SCIM_PATHS_NOT_MAPPED:
        raise ValueError(_("the SCIM path {path} cannot be mapped: the agent sets it itself, or it holds a list "
                           "of values").format(path=text))
    if text in _ENGINE_FIELDS:
        raise ValueError(_("{path} is the name of one of the agent's own fields: give the SCIM path "
                           "(for the enterprise extension's, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
                           "{path})").format(path=text))
    return text


def check_ad_attribute(value: str) -> str:
    """An AD attribute a mapping reads: its LDAP name, one whose values are text."""
    text = (value or "").strip()
    if not _AD_ATTRIBUTE.fullmatch(text):
        raise ValueError(_("give the AD attribute by its LDAP name (for example extensionAttribute1 or "
                           "physicalDeliveryOfficeName)"))
    if text.lower() in _AD_ATTRIBUTES_NOT_MAPPED:
        raise ValueError(_("the AD attribute {attribute} cannot be mapped: its values are binary, secret or "
                           "links, not text").format(attribute=text))
    return text


#: A CA file holds a few certificates; a system bundle is about 200 KB. Larger is not a CA file.
MAX_CA_FILE_BYTES = 1024 * 1024


def check_ca_file(value: str | None) -> str | None:
    """A CA certificate file that exists and can be read; returned as an absolute path.

    Refused by type and size before it is read (a FIFO, ``/dev/zero`` or a
    file of gigabytes named here would hang or fill the memory).
    """
    if not value:
        return None
    path = Path(value).expanduser()
    try:
        read_regular_file(path, MAX_CA_FILE_BYTES)
    except FileNotFoundError:
        raise ValueError(
            _("{path} does not exist (give the PEM file of the CA that issued the certificate)").format(path=value)
        ) from None
    except NotARegularFile as exc:
        raise ValueError(
            _("{path} is {what}: give the PEM file of the CA that issued the certificate").format(path=value, what=exc.what)
        ) from None
    except FileTooLarge as exc:
        raise ValueError(
            ngettext("{path} is {size} byte, too large for a CA file (at most {limit}): "
                     "give the PEM file of the CA that issued the certificate",
                     "{path} is {size} bytes, too large for a CA file (at most {limit}): "
                     "give the PEM file of the CA that issued the certificate", exc.size).format(
                path=value, size=exc.size, limit=MAX_CA_FILE_BYTES)
        ) from None
    except OSError as exc:
        raise ValueError(_("cannot read {path}: {reason}").format(path=value, reason=exc.strerror)) from None
    return str(path.resolve())


def check_token(value: str) -> str:
    """A directory token copied from Identity (checked for shape only here)."""
    text = (value or "").strip()
    if not text:
        raise ValueError(_("paste the directory's token copied from Identity"))
    if not _TOKEN.match(text):
        raise ValueError(
            _("the token has characters a token never has (spaces or line breaks inside?): "
              "copy it again from the directory in Identity")
        )
    if len(text) < 16 or len(text) > 4096:
        raise ValueError(_("the token is too short or too long: copy it again from the directory in Identity"))
    return text


def check_scim_profile(value: str) -> str:
    """A SCIM profile's name (which profiles exist is said when the directory is added or synced)."""
    text = (value or "").strip()
    if not _DIRECTORY_ID.match(text):
        raise ValueError(_("a SCIM profile is a name of lower-case letters, digits or '-', for example generic or "
                           "aws-identity-center"))
    return text


def check_bearer_token(value: str) -> str:
    """A SCIM provider's bearer token (checked for shape only here: the provider says if it is valid)."""
    text = (value or "").strip()
    if not text:
        raise ValueError(_("paste the bearer token the SCIM provider issued for this agent"))
    if not _TOKEN.match(text) or not 8 <= len(text) <= 16384:
        raise ValueError(_("the bearer token has characters a token never has, or is too short or too long: "
                           "copy it again from the SCIM provider"))
    return text


def check_directory_id(value: str) -> str:
    text = (value or "").strip()
    if not _DIRECTORY_ID.match(text):
        raise ValueError(
            _("a directory id is 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        )
    return text


def check_target_name(value: str) -> str:
    """A sync target's name; whether such a target exists is said when a run opens it."""
    text = (value or "").strip()
    if not _DIRECTORY_ID.match(text):
        raise ValueError(_("a sync target is a name of lower-case letters, digits, '-' or '_', for example identity"))
    return text


def check_ldap_filter(value: str | None) -> str | None:
    """An LDAP filter override: balanced parentheses, starting with '('."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    depth = 0
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if depth < 0:
            break
    if not text.startswith("(") or depth != 0:
        raise ValueError(
            _("'{text}' is not an LDAP filter: it must start with '(' and balance its parentheses").format(text=text)
        )
    return text
