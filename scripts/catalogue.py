"""The product's gettext catalogues: extract, merge, compile, check.

A build tool, not shipped in the package. Standard library only, so
``scripts/i18n.py`` (its command line) runs without Textual installed. The
strings are the literal arguments of ``_("...")``, ``N_("...")`` (marked now,
translated later) and ``ngettext("...", "...", n)`` in every module an admin's
words come from (``SOURCE_DIRS``: the console, the CLI, the core, the demo's trickles), found with
:mod:`ast` (so a string in a comment or a docstring never counts).

Everything written is deterministic (entries sorted by msgid, file names
without line numbers, no dates in the header), so rerunning ``update`` on an
unchanged tree changes no byte and a diff shows only real changes.

Why one script (~640 lines): the extraction, the .po writer and the checks are one
build tool, run as `python scripts/i18n.py`; none of it is shipped in the product.
"""

from __future__ import annotations

import ast
import re
import string
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from smartsync_tui.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "smartsync_tui"
#: Where admin-facing words are written. The emulator and the rest of the testbed are dev
#: tools whose messages answer the test suite, not an admin; the demo's change and login
#: trickles write log lines an admin reads on first start, so they are translated too.
#: Every package of the product is read, so a package added later is not missed.
_DEV_TOOLS = frozenset({"emulator", "testbed", "locale", "__pycache__"})
SOURCE_DIRS: tuple[Path, ...] = (
    PACKAGE_DIR / "i18n.py",
    *sorted(p for p in PACKAGE_DIR.iterdir() if p.is_dir() and p.name not in _DEV_TOOLS),
    PACKAGE_DIR / "testbed" / "trickle.py", PACKAGE_DIR / "testbed" / "login_trickle.py",
)
SOURCE_LANGUAGE = "en"

_PLURAL_FORMS = {
    "en": "nplurals=2; plural=(n != 1);",
    # Brazilian Portuguese treats 0 like 1 ("0 usuário"), as gettext's own pt_BR does.
    "pt_BR": "nplurals=2; plural=(n > 1);",
}
_LANGUAGE_NAMES = {"en": "English", "pt_BR": "Brazilian Portuguese"}


# -- extraction -------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One translatable string in the code."""

    msgid: str
    msgid_plural: str | None
    locations: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """A call the extractor cannot take a string from (``_(name)``, ``_(f"...")``)."""

    location: str
    text: str
    fatal: bool


# Call names whose first argument(s) are catalogue strings: _() translates, N_() only marks
# (for text built at import, translated later with _()), ngettext() has a singular and a plural.
_MARKERS = {"_": 1, "N_": 1, "ngettext": 2}


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


# A count written into a singular sentence: "{n} users", "{count} changes", "user(s)". English
# words that end in s but are not plurals are let through; so is a line marked "# not a count"
# (for "{n} ms" or "{value}s" as a unit).
_COUNT_FIELD = re.compile(r"^(n|count|total|\w+_count|count_\w+|number|how_many)$")
_NOT_PLURAL = frozenset({"is", "was", "has", "does", "as", "this", "its", "us", "ms", "s", "yes", "always", "across",
                         "less", "unless", "process", "access", "address", "class", "status", "pass", "bypass"})
_UNITS = frozenset({"s", "ms", "min", "h", "d", "KB", "MB", "GB", "KiB", "MiB", "GiB", "B"})
_FIELD_THEN_WORD = re.compile(r"\{(\w*)(?:[!:][^}]*)?\}\s+\(?([A-Za-z]+)(\(s\))?")


def count_problem(msgid: str) -> str | None:
    """Why ``msgid``, translated with _(), holds a count that needs ngettext(); None when it does not."""
    if re.search(r"[A-Za-z]\(s\)", msgid):
        return "writes a plural as '(s)'"
    for match in _FIELD_THEN_WORD.finditer(msgid):
        field_name, word, suffix = match.group(1), match.group(2), match.group(3)
        if word in _UNITS and not suffix:
            continue  # "{n} min", "{size} MB": a unit is not pluralised
        if suffix or _COUNT_FIELD.match(field_name):
            return f"puts a count {{{field_name}}} before {word!r}"
        # "{groups} group changes", "max {sessions} sessions": a field named for what it counts.
        stem = field_name[:-1]
        if field_name.endswith("s") and len(stem) >= 3 and word.lower().startswith(stem.lower()):
            return f"puts a count {{{field_name}}} before {word!r}"
        if len(word) > 2 and word.endswith("s") and not word.endswith("ss") and word.lower() not in _NOT_PLURAL:
            return f"puts {{{field_name}}} before the plural {word!r}"
    return None


# Methods that keep a translated string translated: _("...").format(...) is still one message.
_KEEPS_TRANSLATION = frozenset({"format", "strip", "rstrip", "lstrip", "capitalize", "upper", "lower"})


def _is_translated(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    if _called_name(node) in ("_", "ngettext"):
        return True
    return isinstance(node.func, ast.Attribute) and node.func.attr in _KEEPS_TRANSLATION and _is_translated(node.func.value)


def _has_words(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(re.search(r"[A-Za-z]{2,}", node.value))


def concatenation_problem(node: ast.AST) -> str | None:
    """Why ``node`` builds a visible sentence out of pieces (a translator cannot reorder them)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        sides = (node.left, node.right)
        if any(_is_translated(side) for side in sides):
            return "joins a translated string with + (write one message with {fields})"
    if isinstance(node, ast.JoinedStr):
        pieces = node.values
        if any(isinstance(p, ast.FormattedValue) and _is_translated(p.value) for p in pieces) and any(
            _has_words(p) for p in pieces
        ):
            return "puts a translated string inside an f-string with English words (write one message with {fields})"
    return None


def extract_source(source: str, location: str) -> tuple[list[tuple[str, str | None]], list[Problem]]:
    """The (msgid, msgid_plural) pairs of one module's source, and the calls that are not literal."""
    tree = ast.parse(source, filename=location)
    lines = source.splitlines()
    found: list[tuple[str, str | None]] = []
    problems: list[Problem] = []
    for node in ast.walk(tree):
        joined = concatenation_problem(node)
        if joined is not None:
            problems.append(Problem(f"{location}:{getattr(node, 'lineno', 0)}", joined, True))
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name not in _MARKERS:
            continue
        where = f"{location}:{node.lineno}"
        wanted = _MARKERS[name]
        args = node.args[:wanted]
        literals = [_literal(arg) for arg in args]
        if len(args) == wanted and all(value is not None for value in literals):
            if wanted == 1:
                marked = any("# not a count" in line for line in lines[node.lineno - 1 : (node.end_lineno or node.lineno)])
                why = None if marked else count_problem(literals[0])  # type: ignore[arg-type]
                if why is not None:
                    problems.append(Problem(where, f"{literals[0]!r} {why}: use ngettext(), or mark the line '# not a count'", True))
                found.append((literals[0], None))  # type: ignore[arg-type]
            else:
                found.append((literals[0], literals[1]))  # type: ignore[arg-type]
            continue
        if any(isinstance(arg, ast.JoinedStr) for arg in args):
            # The f-string is formatted before the lookup: no catalogue can hold it.
            problems.append(Problem(where, f"{name}() of an f-string; use {name}(\"... {{name}} ...\").format(name=...)", True))
        else:
            problems.append(Problem(where, f"{name}() of a non-literal; its strings must be marked where they are written", False))
    return found, problems


def _modules(sources: Path | Iterable[Path]) -> list[Path]:
    roots = [sources] if isinstance(sources, Path) else list(sources)
    return sorted(path for root in roots for path in ([root] if root.is_file() else root.rglob("*.py")))


def extract(
    sources: Path | Iterable[Path] = SOURCE_DIRS, *, relative_to: Path | None = None
) -> tuple[dict[str, Found], list[Problem]]:
    """Every translatable string in ``sources`` (folders or modules), keyed by msgid."""
    modules = _modules(sources)
    base = relative_to if relative_to is not None else PACKAGE_DIR.parent
    pairs: dict[str, tuple[str | None, set[str]]] = {}
    problems: list[Problem] = []
    for path in modules:
        location = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
        found, trouble = extract_source(path.read_text(encoding="utf-8"), location)
        problems.extend(trouble)
        for msgid, plural in found:
            if msgid == "":
                problems.append(Problem(location, "_(\"\") is the catalogue header, not a string to translate", True))
                continue
            known_plural, files = pairs.setdefault(msgid, (plural, set()))
            if known_plural != plural:
                if known_plural is None:
                    pairs[msgid] = (plural, files)
                elif plural is not None:
                    problems.append(Problem(location, f"{msgid!r} has two plural forms: {known_plural!r} and {plural!r}", True))
            files.add(location)
    messages = {
        msgid: Found(msgid, plural, tuple(sorted(files))) for msgid, (plural, files) in sorted(pairs.items())
    }
    return messages, problems


# -- .po files ----------------------------------------------------------------


@dataclass
class Entry:
    msgid: str
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=lambda: [""])
    locations: tuple[str, ...] = ()
    translator_comments: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def translated(self) -> bool:
        return not self.fuzzy and all(self.msgstr)


@dataclass
class Catalogue:
    language: str
    header: str = ""
    entries: dict[str, Entry] = field(default_factory=dict)


class PoSyntaxError(ValueError):
    pass


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoSyntaxError(f"{where}: expected a quoted string, got {text!r}")
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 1
            if i >= len(body):
                raise PoSyntaxError(f"{where}: a backslash ends the string")
            code = body[i]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
            elif code in "01234567":
                digits = code
                while i + 1 < len(body) and len(digits) < 3 and body[i + 1] in "01234567":
                    i += 1
                    digits += body[i]
                out.append(chr(int(digits, 8)))
            else:
                raise PoSyntaxError(f"{where}: unknown escape \\{code}")
        elif char == '"':
            raise PoSyntaxError(f"{where}: unescaped quote inside a string")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def parse_po(text: str, language: str, *, name: str = "<po>") -> Catalogue:
    """Read a .po file (the subset gettext tools and this module write)."""
    catalogue = Catalogue(language)
    # Each entry: fields in order of appearance; "comments" before them.
    current: dict[str, object] = {}
    last_key: str | None = None

    def finish() -> None:
        nonlocal current, last_key
        if "msgid" not in current:
            if any(k in current for k in ("msgstr", "msgid_plural", "msgctxt")):
                raise PoSyntaxError(f"{name}: an entry without msgid")
            current, last_key = {}, None
            return
        if "msgctxt" in current:
            raise PoSyntaxError(f"{name}: msgctxt is not used by this project (msgid {current['msgid']!r})")
        msgid = current["msgid"]
        assert isinstance(msgid, str)
        plural = current.get("msgid_plural")
        forms: dict[int, str] = current.get("msgstr", {})  # type: ignore[assignment]
        if plural is None:
            msgstr = [forms.get(0, "")]
        else:
            count = max(forms) + 1 if forms else 2
            msgstr = [forms.get(i, "") for i in range(max(count, 2))]
        if msgid == "":
            catalogue.header = msgstr[0]
        else:
            if msgid in catalogue.entries:
                raise PoSyntaxError(f"{name}: {msgid!r} appears twice")
            catalogue.entries[msgid] = Entry(
                msgid=msgid,
                msgid_plural=plural,  # type: ignore[arg-type]
                msgstr=msgstr,
                locations=tuple(current.get("locations", ())),  # type: ignore[arg-type]
                translator_comments=list(current.get("comments", [])),  # type: ignore[call-overload]
                fuzzy=bool(current.get("fuzzy", False)),
            )
        current, last_key = {}, None

    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue  # an obsolete entry gettext kept; this project drops them
        if line.startswith("#"):
            if "msgid" in current and last_key is not None and last_key.startswith("msgstr"):
                finish()
            if line.startswith("#:"):
                locations = current.setdefault("locations", [])
                locations.extend(line[2:].split())  # type: ignore[union-attr]
            elif line.startswith("#,"):
                flags = {flag.strip() for flag in line[2:].split(",")}
                if "fuzzy" in flags:
                    current["fuzzy"] = True
            elif line.startswith("# ") or line == "#":
                current.setdefault("comments", []).append(line[2:])  # type: ignore[union-attr]
            continue  # "#." extracted comments, "#|" previous strings: regenerated or not kept
        if line.startswith('"'):
            if last_key is None:
                raise PoSyntaxError(f"{where}: a string continues nothing")
            value = _unquote(line, where)
            if last_key.startswith("msgstr["):
                index = int(last_key[7:-1])
                current["msgstr"][index] += value  # type: ignore[index]
            elif last_key == "msgstr":
                current["msgstr"][0] += value  # type: ignore[index]
            else:
                current[last_key] += value  # type: ignore[operator]
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and last_key is not None and last_key.startswith("msgstr"):
            finish()  # a new entry without a blank line before it
        if keyword in ("msgctxt", "msgid", "msgid_plural"):
            current[keyword] = _unquote(rest, where)
            last_key = keyword
        elif keyword == "msgstr":
            current.setdefault("msgstr", {})[0] = _unquote(rest, where)  # type: ignore[index]
            last_key = "msgstr"
        elif keyword.startswith("msgstr[") and keyword.endswith("]") and keyword[7:-1].isdigit():
            index = int(keyword[7:-1])
            current.setdefault("msgstr", {})[index] = _unquote(rest, where)  # type: ignore[index]
            last_key = keyword
        else:
            raise PoSyntaxError(f"{where}: cannot read {raw!r}")
    finish()
    return catalogue


def read_po(path: Path, language: str) -> Catalogue:
    return parse_po(path.read_text(encoding="utf-8"), language, name=str(path))


def _quote(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\r", "\\r")
    return '"' + out.replace("\n", "\\n") + '"'


def _field(keyword: str, value: str) -> list[str]:
    # A string with inner newlines is written one line per source line, as gettext does.
    if "\n" in value.rstrip("\n"):
        parts = value.splitlines(keepends=True)
        return [f'{keyword} ""', *(_quote(part) for part in parts)]
    return [f"{keyword} {_quote(value)}"]


def default_header(language: str) -> str:
    return (
        "Project-Id-Version: smartsync-tui\n"
        f"Language: {language}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        f"Plural-Forms: {_PLURAL_FORMS.get(language, _PLURAL_FORMS['en'])}\n"
    )


def has_placeholders(text: str) -> bool:
    try:
        return any(name is not None for _literal_text, name, _spec, _conv in string.Formatter().parse(text))
    except ValueError:
        return True


def format_po(catalogue: Catalogue) -> str:
    """The .po text: header, then entries sorted by msgid."""
    name = _LANGUAGE_NAMES.get(catalogue.language, catalogue.language)
    header = catalogue.header or default_header(catalogue.language)
    lines = [
        f"# smartsync-tui console strings: {name}.",
        "# Made by `python scripts/i18n.py update` (which keeps every msgstr written here);",
        "# `python scripts/i18n.py check` says what is missing.",
        "#",
        'msgid ""',
        # The header's msgstr starts on its own line, one line per header field, as gettext writes it.
        'msgstr ""',
        *(_quote(part) for part in header.splitlines(keepends=True)),
    ]
    for msgid in sorted(catalogue.entries):
        entry = catalogue.entries[msgid]
        lines.append("")
        lines.extend(f"# {comment}".rstrip() for comment in entry.translator_comments)
        if entry.locations:
            lines.append("#: " + " ".join(entry.locations))
        flags = []
        if entry.fuzzy:
            flags.append("fuzzy")
        if has_placeholders(entry.msgid) or (entry.msgid_plural and has_placeholders(entry.msgid_plural)):
            flags.append("python-brace-format")
        if flags:
            lines.append("#, " + ", ".join(flags))
        lines.extend(_field("msgid", entry.msgid))
        if entry.msgid_plural is None:
            lines.extend(_field("msgstr", entry.msgstr[0]))
        else:
            lines.extend(_field("msgid_plural", entry.msgid_plural))
            for index, form in enumerate(entry.msgstr):
                lines.extend(_field(f"msgstr[{index}]", form))
    return "\n".join(lines) + "\n"


def write_text_if_changed(path: Path, data: str | bytes) -> bool:
    """Write only when the content differs (keeps mtimes and diffs quiet). True when written."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == payload:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(payload)
    temporary.replace(path)
    return True


# -- merging ------------------------------------------------------------------


def merge(found: dict[str, Found], existing: Catalogue | None, language: str) -> Catalogue:
    """The catalogue for ``language`` holding exactly the strings in ``found``.

    English (the source language) translates each string to itself. Other
    languages keep every translation already written, start new strings empty
    and drop strings the code no longer has.
    """
    header = existing.header if existing is not None and existing.header else default_header(language)
    merged = Catalogue(language, header=header)
    for msgid, message in sorted(found.items()):
        old = existing.entries.get(msgid) if existing is not None else None
        forms = 1 if message.msgid_plural is None else 2
        if language == SOURCE_LANGUAGE:
            msgstr = [message.msgid] if message.msgid_plural is None else [message.msgid, message.msgid_plural]
            merged.entries[msgid] = Entry(msgid, message.msgid_plural, msgstr, message.locations)
            continue
        if old is None:
            merged.entries[msgid] = Entry(msgid, message.msgid_plural, [""] * forms, message.locations)
            continue
        msgstr = list(old.msgstr)
        fuzzy = old.fuzzy
        if old.msgid_plural != message.msgid_plural:
            # Singular became plural or the plural text changed: keep the words, ask for a look.
            msgstr = (msgstr + [""] * forms)[: max(forms, len(msgstr) if message.msgid_plural else 1)]
            fuzzy = fuzzy or any(msgstr)
        merged.entries[msgid] = Entry(
            msgid, message.msgid_plural, msgstr, message.locations, list(old.translator_comments), fuzzy
        )
    return merged


# -- .mo files ----------------------------------------------------------------


def compile_mo(catalogue: Catalogue) -> bytes:
    """GNU .mo bytes: header entry plus every translated entry, keys sorted, no hash table.

    Untranslated and fuzzy entries are left out (gettext then shows the English
    text), as msgfmt does.
    """
    pairs: dict[bytes, bytes] = {b"": (catalogue.header or default_header(catalogue.language)).encode("utf-8")}
    for entry in catalogue.entries.values():
        if not entry.translated:
            continue
        if entry.msgid_plural is None:
            key = entry.msgid.encode("utf-8")
            value = entry.msgstr[0].encode("utf-8")
        else:
            key = entry.msgid.encode("utf-8") + b"\0" + entry.msgid_plural.encode("utf-8")
            value = b"\0".join(form.encode("utf-8") for form in entry.msgstr)
        pairs[key] = value
    keys = sorted(pairs)
    count = len(keys)
    originals_offset = 7 * 4
    translations_offset = originals_offset + count * 8
    data_offset = translations_offset + count * 8
    originals = bytearray()
    translations = bytearray()
    original_table: list[int] = []
    translation_table: list[int] = []
    for key in keys:
        original_table += [len(key), data_offset + len(originals)]
        originals += key + b"\0"
    translations_start = data_offset + len(originals)
    for key in keys:
        value = pairs[key]
        translation_table += [len(value), translations_start + len(translations)]
        translations += value + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, count, originals_offset, translations_offset, 0, data_offset)
    return (
        header
        + struct.pack(f"<{2 * count}I", *original_table)
        + struct.pack(f"<{2 * count}I", *translation_table)
        + bytes(originals)
        + bytes(translations)
    )


# -- the repository's catalogues ----------------------------------------------


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def update(
    sources: Path | Iterable[Path] = SOURCE_DIRS, locale_dir: Path = LOCALE_DIR, languages: Iterable[str] = LANGUAGES
) -> tuple[list[str], list[Problem]]:
    """Extract, merge into every language's .po and compile each .mo. Returns the files written."""
    found, problems = extract(sources)
    written: list[str] = []
    for language in languages:
        po = po_path(language, locale_dir)
        existing = read_po(po, language) if po.exists() else None
        catalogue = merge(found, existing, language)
        if write_text_if_changed(po, format_po(catalogue)):
            written.append(str(po))
        if write_text_if_changed(mo_path(language, locale_dir), compile_mo(catalogue)):
            written.append(str(mo_path(language, locale_dir)))
    return written, problems


#: A translator comment that says an entry stays as in English on purpose (a product name, a
#: command, an LDAP attribute): "# same: a command the admin types".
SAME_MARK = "same:"


def _same_as_english(entry: Entry) -> bool:
    """A translation identical to its English msgid of more than one word, not marked as meant."""
    english = [entry.msgid] if entry.msgid_plural is None else [entry.msgid, entry.msgid_plural]
    if entry.msgstr[: len(english)] != english:
        return False
    words = re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}", " ", entry.msgid))
    if len(words) <= 1:
        return False
    return not any(comment.startswith(SAME_MARK) for comment in entry.translator_comments)


def _fields(text: str) -> list[str] | None:
    """The sorted ``{name}`` fields of a format string; None when it is not a valid one."""
    try:
        return sorted(name for _text, name, _spec, _conv in string.Formatter().parse(text) if name is not None)
    except ValueError:
        return None


def check(
    sources: Path | Iterable[Path] = SOURCE_DIRS, locale_dir: Path = LOCALE_DIR, languages: Iterable[str] = LANGUAGES
) -> tuple[list[str], list[str]]:
    """What is wrong with the catalogues (errors) and what merely looks stale (warnings)."""
    found, problems = extract(sources)
    errors = [f"{p.location}: {p.text}" for p in problems if p.fatal]
    warnings = [f"{p.location}: {p.text}" for p in problems if not p.fatal]
    for language in languages:
        po = po_path(language, locale_dir)
        if not po.exists():
            errors.append(f"{po}: missing (run: python scripts/i18n.py update)")
            continue
        try:
            catalogue = read_po(po, language)
        except (PoSyntaxError, UnicodeDecodeError) as exc:
            errors.append(f"{po}: unreadable: {exc}")
            continue
        for msgid, message in found.items():
            entry = catalogue.entries.get(msgid)
            if entry is None:
                errors.append(f"{po}: missing {msgid!r} (from {', '.join(message.locations)})")
            elif entry.msgid_plural != message.msgid_plural:
                errors.append(f"{po}: {msgid!r} has plural {entry.msgid_plural!r}, the code {message.msgid_plural!r}")
        for msgid in sorted(set(catalogue.entries) - set(found)):
            warnings.append(f"{po}: {msgid!r} is no longer in the code (update drops it)")
        for msgid, entry in sorted(catalogue.entries.items()):
            if entry.fuzzy:
                errors.append(f"{po}: {msgid!r} is marked fuzzy: review the translation and remove the flag")
            elif not all(entry.msgstr):
                errors.append(f"{po}: {msgid!r} has no translation")
                continue
            if language != SOURCE_LANGUAGE and _same_as_english(entry):
                errors.append(
                    f"{po}: the translation of {msgid!r} is the English text; translate it, or say why it stays "
                    f"with a comment line '# {SAME_MARK} <why>' above it"
                )
            sources = [entry.msgid] if entry.msgid_plural is None else [entry.msgid] + [entry.msgid_plural] * (len(entry.msgstr) - 1)
            for source, form in zip(sources, entry.msgstr):
                if not form:
                    continue
                wanted, got = _fields(source), _fields(form)
                if got is None:
                    errors.append(f"{po}: the translation of {msgid!r} is not a valid format string: {form!r}")
                elif wanted is not None and wanted != got:
                    errors.append(f"{po}: placeholders of {msgid!r} are {wanted}, its translation has {got}: {form!r}")
        mo = mo_path(language, locale_dir)
        if not mo.exists():
            errors.append(f"{mo}: missing (run: python scripts/i18n.py update)")
        elif mo.read_bytes() != compile_mo(catalogue):
            errors.append(f"{mo}: does not match {po.name} (run: python scripts/i18n.py update)")
    return errors, warnings
