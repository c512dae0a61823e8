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
