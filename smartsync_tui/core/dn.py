"""Reading a distinguished name for people: the object's own name is its first RDN's value.

Only for display (a table's "object" column): the sync keys objects by
objectGUID, never by DN.
"""

from __future__ import annotations

import re

_HEX_PAIR = re.compile(r"\\([0-9A-Fa-f]{2})")


def object_name(dn: str) -> str:
    """``CN=Souza\\, Paulo,OU=Staff,DC=corp`` -> ``Souza, Paulo``; the whole DN when it has no ``=``."""
    end = 0
    while end < len(dn):
        if dn[end] == "\\":
            end += 2  # an escaped character, a comma included
            continue
        if dn[end] in ",+":
            break
        end += 1
    rdn = dn[:end]
    _attribute, equals, value = rdn.partition("=")
    if not equals:
        return dn
    # RFC 4514 escapes: \XX hex pairs are UTF-8 bytes, \c is the character c.
    out = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "\\" and _HEX_PAIR.match(value, i):
            out.append(int(value[i + 1:i + 3], 16))
            i += 3
        elif value[i] == "\\" and i + 1 < len(value):
            out += value[i + 1].encode()
            i += 2
        else:
            out += value[i].encode()
            i += 1
    return out.decode("utf-8", "replace").strip()


# RFC 4514's grammar as Active Directory applies it: an attribute type (a name such as ``OU`` or
# a dotted OID), ``=``, and a value in which the specials are escaped (AD also wants ``=``
# escaped, so a missing comma, ``OU=Staff DC=corp``, is caught) or hex-coded (``#04...``, a BER
# value; a leading ``#`` that is not one must be escaped). Spaces around the separators are
# allowed, as AD writes them. Parsed by hand, in one pass: a regular expression over the spaces
# that may surround a value backtracks without end on a long run of them.
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*")
_HEX_VALUE = re.compile(r"#(?:[0-9A-Fa-f]{2})+")
_SPECIALS = '"+,;<>='  # "," and "+" separate RDNs and values; NUL is refused whole
_ESCAPABLE = frozenset(' "#+,;<=>\\')
_HEX = frozenset("0123456789abcdefABCDEF")


def is_dn(text: str) -> bool:
    """Whether ``text`` is a distinguished name (RFC 4514): ``OU=Staff,DC=corp,DC=example``.

    A syntax check only (whether the object exists is the directory test's to say); an
    empty value, an unescaped special (``" + , ; < = > \\``), a bad escape or an empty
    RDN is refused.
    """
    if "\x00" in text:
        return False
    parts = _split_unescaped(text, ",+")
    return parts is not None and all(_is_attribute_value(part) for part in parts)


def _split_unescaped(text: str, separators: str) -> list[str] | None:
    """``text`` cut at its unescaped separators; None when an escape is broken."""
    parts, start, i = [], 0, 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            following = text[i + 1:i + 2]
            if following in _HEX and text[i + 2:i + 3] in _HEX and text[i + 2:i + 3]:
                i += 3
            elif following and following in _ESCAPABLE:
                i += 2
            else:
                return None
            continue
        if char in separators:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _is_attribute_value(part: str) -> bool:
    kind, equals, value = part.partition("=")
    if not equals or not _TYPE.fullmatch(kind.strip()):
        return False
    value = value.lstrip(" ")
    # Trailing spaces are the separator's, except the first one when it is escaped (``a\\ ``).
    stripped = value.rstrip(" ")
    if len(stripped) < len(value) and _escaped_at(value, len(stripped)):
        stripped += " "
    value = stripped
    if not value:
        return False
    if value.startswith("#"):
        return _HEX_VALUE.fullmatch(value) is not None
    # Its escapes are checked already (is_dn); what is left is an unescaped special.
    return len(_split_unescaped(value, _SPECIALS) or ()) == 1


def _escaped_at(text: str, index: int) -> bool:
    """Whether the character at ``index`` follows an odd run of backslashes."""
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
