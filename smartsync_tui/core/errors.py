"""Errors an admin reads.

Every error the core raises on purpose derives from :class:`UserError`: its
``str()`` is a complete sentence that says what went wrong and what to do,
and it never contains a secret. The CLI and the console print it as it is,
without a traceback.
"""


class UserError(Exception):
    """An error whose message is safe and complete enough to show an admin."""

    #: Short machine-readable kind, used in ``--json`` output.
    kind = "error"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        return str(self)


class SettingsError(UserError):
    """appsettings.json cannot be read, parsed or validated."""

    kind = "settings"


class InputError(UserError):
    """A value typed by the admin is not acceptable; names the field."""

    kind = "input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
