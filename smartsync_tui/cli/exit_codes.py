"""The exit codes of every `smartsync-tui` command and the error kinds of `--json`, defined once.

A script needs two answers from a command that did not end well: whether to
look at the result (1: the command ran and said no) or at the command line,
the settings or the network (2: it could not do its work at all); and, with
``--json``, a word it can branch on without reading the sentence. The kinds
are a small fixed set; each has exactly one exit code, so ``--json`` never
changes the code. The README's *Exit codes* table lists the same.

``sync`` (and ``run --once``) exit with the worst outcome of its directories,
:attr:`~smartsync_tui.engine.sync.SyncResult.exit_code`: ok 0; partial,
held or cancelled 1; failed 2 (tests/test_cli_exit_codes.py checks it stays
within these codes).
"""

from __future__ import annotations

OK = 0
#: The command ran and the answer is no: a check failed, or it was refused (the message says why).
FAILED = 1
#: The command could not do its work: bad usage or input, broken settings, AD or Identity away, a bug.
COULD_NOT_RUN = 2
#: Stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

#: kind -> exit code. Every error a command reports has one of these kinds.
KINDS: dict[str, int] = {
    "usage": COULD_NOT_RUN,         # the command line: unknown option, missing value, options that do not go together
    "input": COULD_NOT_RUN,         # a value given is not acceptable (the message names the option)
    "settings": COULD_NOT_RUN,      # appsettings.json, secrets.json or the state store is broken or unsafe
    "unreachable": COULD_NOT_RUN,   # AD or Identity could not be reached or used
    "busy": COULD_NOT_RUN,          # another process holds what is needed (the home's engine, the port)
    "internal": COULD_NOT_RUN,      # an unexpected error: details in the application log
    "refused": FAILED,              # the command would not do it as asked (file exists, not confirmed)
    "check_failed": FAILED,         # a check ran and failed (AD bind, token, Identity reachable)
    "interrupted": INTERRUPTED,     # Ctrl-C
}

# The core's UserError kinds (core/errors.py and its subclasses) as one of KINDS.
_CORE_KINDS: dict[str, str] = {
    "input": "input",
    "logs": "input",  # an export's folder missing, or a folder given as the file
    "settings": "settings",
    "secrets": "settings",
    "state": "settings",
    "directory": "unreachable",
    "identity": "unreachable",
    "identity-unreachable": "unreachable",
    "identity-tls": "unreachable",
    "identity-throttled": "unreachable",
    "identity-server-error": "unreachable",
    "identity-protocol": "unreachable",
    "identity-credentials-missing": "unreachable",
    "token-rejected": "unreachable",
    "agent-key-rejected": "unreachable",
    "channel": "unreachable",
    "engine-running": "busy",
    "cancelled": "interrupted",
    "identity-stopped": "interrupted",  # a stop cut the wait for an answer (identity_client.abort)
    "exists": "refused",
}


def kind_of(core_kind: str) -> str:
    """One of :data:`KINDS` for a core error's ``kind``; any other error an admin reads is a refusal."""
    if core_kind in KINDS:
        return core_kind
    return _CORE_KINDS.get(core_kind, "refused")


def code_of(kind: str) -> int:
    return KINDS[kind_of(kind)]
