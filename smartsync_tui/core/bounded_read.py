"""Reading a small file that someone named, without trusting what it turns out to be.

A path typed by an admin (``--ca-file``) or found in the home
(``appsettings.json``) may be a FIFO (``open`` waits forever for a writer),
a device (``/dev/zero`` never ends), a folder, or a file of gigabytes. Each is
refused by its type and size, looked at on the open file itself, before a
byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from smartsync_tui.i18n import _, ngettext


class NotARegularFile(OSError):
    """The path is a folder, a FIFO, a device or a socket; ``what`` names which."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(_("{path} is {what}, not a file").format(path=path, what=what))
        self.path = path
        self.what = what


class FileTooLarge(OSError):
    def __init__(self, path: Path, size: int, limit: int) -> None:
        super().__init__(ngettext("{path} is {size} byte (at most {limit})", "{path} is {size} bytes (at most {limit})",
                                  size).format(path=path, size=size, limit=limit))
        self.path = path
        self.size = size
        self.limit = limit


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return _("a folder")
    if stat.S_ISFIFO(mode):
        return _("a named pipe (FIFO)")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _("a device")
    if stat.S_ISSOCK(mode):
        return _("a socket")
    return _("not a regular file")


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes.

    Raises FileNotFoundError, :class:`NotARegularFile`, :class:`FileTooLarge`
    or another OSError (permissions) as they are.
    """
    # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise NotARegularFile(path, _("a folder")) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotARegularFile(path, _kind(info.st_mode))
    if info.st_size > limit:
        os.close(fd)
        raise FileTooLarge(path, info.st_size, limit)
    with os.fdopen(fd, "rb") as file:
        data = file.read(limit + 1)  # a file that grew since fstat is cut here, and refused
    if len(data) > limit:
        raise FileTooLarge(path, len(data), limit)
    return data
