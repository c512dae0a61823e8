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


# RFC 4514's grammar, as the settings check needs it: an attribute type (a name such as
# ``OU`` or a dotted OID), ``=``, and a value in which the specials are escaped or hex-coded
# (``#04...``, a BER value). Spaces around the separators are allowed, as AD writes them.
_TYPE = r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)"
_ESCAPE = r"\\(?:[0-9A-Fa-f]{2}|[ \"#+,;<=>\\])"
_STRING = rf"(?:[^\"+,;<>\\\x00]|{_ESCAPE})+"
_HEXSTRING = r"#(?:[0-9A-Fa-f]{2})+"
_ATV = rf"\s*{_TYPE}\s*=\s*(?:{_HEXSTRING}|{_STRING})\s*"
_DN = re.compile(rf"{_ATV}(?:\+{_ATV})*(?:,{_ATV}(?:\+{_ATV})*)*")


def is_dn(text: str) -> bool:
    """Whether ``text`` is a distinguished name (RFC 4514): ``OU=Staff,DC=corp,DC=example``.

    A syntax check only (whether the object exists is the directory test's to say); an
    empty value, an unescaped special (``" + , ; < > \\``) or an empty RDN is refused.
    """
    if not _DN.fullmatch(text):
        return False
    # A value's trailing space must be escaped; one that is only spaces is empty.
    return all(part.partition("=")[2].strip() for part in _rdns(text))


def _rdns(text: str) -> list[str]:
    """The attribute-value pairs of a DN already matched by ``_DN`` (escapes kept)."""
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in ",+":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts
