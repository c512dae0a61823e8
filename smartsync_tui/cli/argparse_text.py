"""argparse's own words, in the CLI's language.

Python 3.11's argparse writes its headings, its default help and its usage errors through the
module globals ``argparse._`` and ``argparse.ngettext``, looked up each time one is written.
:func:`translated_argparse` points them at the CLI's catalogue while a command line is parsed
and helped (cli/main.py) and puts argparse's own back after, so a caller in the same process
(the tests) keeps the standard library as it was. The msgids below are argparse's exact
English (Lib/argparse.py of 3.11), those an admin can meet; N_ puts them in the catalogue, and
their translations keep each %-placeholder as it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from smartsync_tui.i18n import N_, _, ngettext

# The help page: its first word and its headings, and the -h option's own help.
HELP_TEXTS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
)

# Usage errors (cli/main.py's _Parser.error reports them, with a pointer to --help).
ERROR_TEXTS = (
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"),
    N_("can't open '%(filename)s': %(error)s"),
)


def expected_arguments(count: int) -> str:
    """argparse's one plural message (nargs=N with a wrong count), so that the catalogue holds it."""
    return ngettext("expected %s argument", "expected %s arguments", count)


@contextmanager
def translated_argparse() -> Iterator[None]:
    """argparse speaks the language set with :func:`smartsync_tui.i18n.set_language` until the block ends."""
    previous = (argparse._, argparse.ngettext)  # type: ignore[attr-defined]
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = previous  # type: ignore[attr-defined]
