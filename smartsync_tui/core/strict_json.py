"""JSON read the strict way a hand-edited settings file needs.

``json.loads`` keeps the last of two equal keys (an admin's edit silently
lost), accepts ``NaN`` and ``Infinity`` (not JSON), turns a 5,000-digit number
into a ``ValueError`` with no position, and a file of 100,000 ``[`` into a
``RecursionError``. :func:`loads` refuses each of these with a
:class:`JsonProblem` that names the line and column, like a syntax error.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from typing import Any

from smartsync_tui.i18n import N_, _

#: Deepest nesting of objects and lists accepted. The settings nest three deep
#: (directories -> a directory -> its values); the rest is room for mistakes.
MAX_DEPTH = 32
#: Longest number literal accepted: every number in the settings fits in a few digits.
MAX_NUMBER_CHARS = 40

# A string literal (skipped: brackets inside it do not nest) or a bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{}]')


class JsonProblem(ValueError):
    """Not acceptable JSON: ``msg`` says why, at ``lineno``/``colno`` (1-based, as JSONDecodeError)."""

    def __init__(self, msg: str, text: str, pos: int) -> None:
        self.msg = msg
        self.pos = max(0, pos)
        self.lineno = text.count("\n", 0, self.pos) + 1
        self.colno = self.pos - text.rfind("\n", 0, self.pos)
        super().__init__(_("{problem} at line {line}, column {column}").format(
            problem=msg, line=self.lineno, column=self.colno))


class _Refused(Exception):
    """Raised inside the decoder's hooks; :func:`loads` adds where."""

    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos


def _check_depth(text: str) -> None:
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise JsonProblem(
                    _("objects and lists are nested more than {depth} deep (a settings file nests 3)").format(
                        depth=MAX_DEPTH),
                    text, match.start(),
                )
        elif char in "]}":
            depth -= 1


def _key_at(text: str, start: int, end: int, key: str, nth: int) -> int:
    """Where ``key`` is written for the ``nth`` time between ``start`` and ``end`` (``start`` if not found)."""
    pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
    found = [m.start() for m in pattern.finditer(text, start, end)]
    return found[nth - 1] if len(found) >= nth else start


def _decoder(text: str) -> json.JSONDecoder:
    def number(literal: str, convert: type) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            raise _Refused(
                _("a number of {n} characters (settings hold small numbers: "  # not a count: always above 40
                  "at most {limit} characters)").format(n=len(literal), limit=MAX_NUMBER_CHARS), text.find(literal),
            )
        value = convert(literal)
        if value in (float("inf"), float("-inf")):
            raise _Refused(_("{number} is too large a number").format(number=literal), text.find(literal))  # not a count
        return value

    def constant(name: str) -> Any:
        raise _Refused(_("{name} is not a JSON number (write a number)").format(name=name), text.find(name))

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[dict[str, Any], int]:
        # The pure-Python scanner's object parser, asked for the pairs in order so that
        # a key written twice is seen (a dict keeps the last one without a word).
        s, start = s_and_end
        strict, scan_once, object_hook, _pairs_hook, *memo = args
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, object_hook, list, *memo)
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _Refused(
                    _("the key \"{key}\" is written twice in the same object (keep one)").format(key=key),
                    _key_at(s, start, end, key, 2),
                )
            seen.add(key)
        return dict(pairs), end

    decoder = json.JSONDecoder(
        parse_int=lambda s: number(s, int), parse_float=lambda s: number(s, float), parse_constant=constant,
    )
    decoder.parse_object = parse_object  # type: ignore[assignment]
    # The pure-Python scanner reads parse_object from its context; the C one would not call it.
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[assignment]
    return decoder


def loads(text: str) -> Any:
    """Parse ``text``; :class:`json.JSONDecodeError` for bad syntax, :class:`JsonProblem` for the rest."""
    _check_depth(text)
    try:
        return _decoder(text).decode(text)
    except _Refused as exc:
        raise JsonProblem(exc.msg, text, exc.pos) from None
    except RecursionError:  # not reached below MAX_DEPTH; a last guard with the same message
        raise JsonProblem(
            _("objects and lists are nested more than {depth} deep").format(depth=MAX_DEPTH), text, 0
        ) from None


#: The json module's syntax errors (JSONDecodeError.msg, always English), marked for the catalogue.
_SYNTAX = {
    "Expecting value": N_("Expecting value"),
    "Expecting property name enclosed in double quotes": N_("Expecting property name enclosed in double quotes"),
    "Expecting ':' delimiter": N_("Expecting ':' delimiter"),
    "Expecting ',' delimiter": N_("Expecting ',' delimiter"),
    "Unterminated string starting at": N_("Unterminated string starting at"),
    "Invalid control character at": N_("Invalid control character at"),
    "Invalid \\escape": N_("Invalid \\escape"),
    "Invalid \\uXXXX escape": N_("Invalid \\uXXXX escape"),
    "Extra data": N_("Extra data"),
    "Illegal trailing comma before end of object": N_("Illegal trailing comma before end of object"),
    "Illegal trailing comma before end of array": N_("Illegal trailing comma before end of array"),
}


def describe(exc: json.JSONDecodeError | JsonProblem) -> str:
    """What is wrong, in the admin's language: a :class:`JsonProblem` is worded so already; the json
    module's own messages are looked up (one it adds in a later Python stays English)."""
    if isinstance(exc, JsonProblem):
        return exc.msg
    known = _SYNTAX.get(exc.msg)
    return _(known) if known else exc.msg
