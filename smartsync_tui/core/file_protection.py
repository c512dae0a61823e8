"""The home's folders and files are the running user's alone, checked as ssh checks ``~/.ssh``.

Another local user who can write a folder of the home, or a folder above it,
can replace ``appsettings.json`` (and so the Identity host the token is sent
to) or plant a symbolic link where a log is opened, so that the agent appends
its lines to a file of that user's choosing. So, before anything in the home
is read or written:

- each folder of the home (the ``--home`` folder, ``config``, ``data``, ``logs``)
  must belong to the running user and not be writable by group or others;
- each folder above it must belong to root or to the running user and not be
  writable by group or others, unless it has the sticky bit (``/tmp``: there
  nobody can rename or remove what another user created);
- each file the agent reads or writes there must be a regular file (never a
  symbolic link), belong to the running user and not be writable by group or
  others; ``secrets.json`` not readable by them either.

Files are opened with ``O_NOFOLLOW`` (:func:`open_private`) and created 0600,
so a link planted after the check is refused too, never followed. Running as
root changes nothing: a home that belongs to another user is refused (that is
the attack), one that belongs to root is fine.

Each refusal names the path and the ``chmod``/``chown`` that fixes it
(docs/service.md). POSIX only: on Windows these checks do nothing, the user's
profile folder and its ACL protect the home (checking the ACLs is still to do).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from smartsync_tui.core.errors import SettingsError
from smartsync_tui.i18n import _, ngettext

try:
    import pwd
except ImportError:  # Windows
    pwd = None  # type: ignore[assignment]

CHECKED = os.name != "nt"
# Absent on Windows, where the home's files are not checked (see the module's docstring).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
_OTHERS_ANY = stat.S_IRWXG | stat.S_IRWXO


class UnsafeHomeError(SettingsError):
    """A folder or file of the home that another user could change; the message says how to fix it."""


def _user(uid: int) -> str:
    if pwd is not None:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            pass
    return str(uid)


def _me() -> int:
    return os.geteuid()


def _not_yours(path: Path, info: os.stat_result, what: str, fix: str) -> UnsafeHomeError:
    """``what``: "folder", "link" or "file"; ``fix``: the sentence that says what to do."""
    fields = {"path": path, "owner": _user(info.st_uid), "uid": info.st_uid, "me": _user(_me()), "fix": fix}
    if what == "folder":
        text = _("The folder {path} belongs to {owner} (uid {uid}), not to {me} who runs smartsync-tui: that "  # not a count
                 "user could change what smartsync-tui reads and writes there. {fix}")
    elif what == "link":
        text = _("The link {path} belongs to {owner} (uid {uid}), not to {me} who runs smartsync-tui: that "  # not a count
                 "user could change what smartsync-tui reads and writes there. {fix}")
    else:
        text = _("The file {path} belongs to {owner} (uid {uid}), not to {me} who runs smartsync-tui: that "  # not a count
                 "user could change what smartsync-tui reads and writes there. {fix}")
    return UnsafeHomeError(text.format(**fields))


def check_parents(folder: Path, *, own: frozenset[Path] = frozenset()) -> None:
    """Refuse ``folder`` when a folder above it (up to ``/``) could be changed by another user.

    Both the path as written and the one its links lead to are checked: whoever can
    write the folder holding a link can point it elsewhere. Folders in ``own`` are
    the home's own ones, checked by :func:`check_private_dir` instead.
    """
    if not CHECKED:
        return
    absolute = Path(os.path.abspath(folder))
    chains = {*absolute.parents, *Path(os.path.realpath(absolute)).parents}
    for parent in sorted(chains, key=lambda p: len(p.parts), reverse=True):
        if parent in own:
            continue
        try:
            info = os.stat(parent)
        except FileNotFoundError:
            continue  # created below, by us
        except OSError as exc:
            raise UnsafeHomeError(
                _("Cannot check the folder {path}: {reason}.").format(path=parent, reason=exc.strerror)
            ) from None
        if info.st_uid not in (0, _me()):
            raise _not_yours(
                parent, info, "folder", _("Choose a --home whose folders above it belong to you or to root "
                                          "(or, as root: `chown root {path}`).").format(path=parent),
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & _OTHERS_WRITE and not mode & stat.S_ISVTX:
            raise UnsafeHomeError(
                _("The folder {path}, above the home {home}, can be written by other users "
                  "(mode {mode}): they could replace the home. Run `chmod go-w {path}`, "
                  "or choose a --home elsewhere.").format(path=parent, home=folder, mode=f"{mode:o}")
            )


def check_links(path: Path) -> None:
    """Refuse a symbolic link on the way to ``path`` (as written) that another user owns.

    Its owner can point it at any folder at any time, whatever the folders it
    leads to are like; a link of root's or the running user's is as safe as
    the folder that holds it (checked by :func:`check_parents`).
    """
    if not CHECKED:
        return
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return  # the rest is created below, by us
        except OSError as exc:
            raise UnsafeHomeError(_("Cannot check {path}: {reason}.").format(path=current, reason=exc.strerror)) from None
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in (0, _me()):
            raise _not_yours(
                current, info, "link", _("It could be pointed at another folder at any moment. Give the "
                                         "folder it leads to ({target}) as --home instead.").format(
                    target=os.path.realpath(current)),
            )


def check_private_dir(folder: Path) -> None:
    """Refuse a folder of the home that is not a folder of the running user's, closed to others' writes."""
    if not CHECKED:
        return
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise UnsafeHomeError(
            _("Cannot check the folder {path}: {reason}.").format(path=folder, reason=exc.strerror)
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeHomeError(_("{path} is not a folder: move it away, or choose another --home.").format(path=folder))
    if info.st_uid != _me():
        raise _not_yours(
            folder, info, "folder", _("If you trust what is in it, make it yours with "
                                      "`chown -R {me} {path}` (as root); else choose another --home.").format(
                me=_user(_me()), path=folder),
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & _OTHERS_WRITE:
        raise UnsafeHomeError(
            _("The folder {path} can be written by other users (mode {mode}): they could replace its "
              "files. Make it private with `chmod 700 {path}`, then run again.").format(path=folder, mode=f"{mode:o}")
        )


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` 0700 when it is missing, then refuse it when it is not safe (see the module)."""
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SettingsError(
                _("Cannot create the folder {path}: {reason}. Choose another --home "
                  "(or SMARTSYNC_HOME), or fix the owner and permissions of that folder.").format(
                    path=folder, reason=exc.strerror)
            ) from None
    check_private_dir(folder)


def _check_file_info(path: Path, info: os.stat_result, *, secret: bool) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _link(path)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeHomeError(_("{path} is not a regular file: move it away, then run again.").format(path=path))
    if info.st_nlink > 1:
        # A hard link is the same file under another name, perhaps another user's file.
        others = info.st_nlink - 1
        raise UnsafeHomeError(
            ngettext("{path} has {n} other name (a hard link): what smartsync-tui writes there would "
                     "land in a file that also lives elsewhere. Move it away with `mv {path} {path}.suspect`, "
                     "then run again.",
                     "{path} has {n} other names (hard links): what smartsync-tui writes there would "
                     "land in a file that also lives elsewhere. Move it away with `mv {path} {path}.suspect`, "
                     "then run again.", others).format(path=path, n=others)
        )
    if info.st_uid != _me():
        raise _not_yours(
            path, info, "file", _("If you trust its content, make it yours with `chown {me} {path}` "
                                  "(as root); else move it away.").format(me=_user(_me()), path=path),
        )
    mode = stat.S_IMODE(info.st_mode)
    if secret and mode & _OTHERS_ANY:
        raise UnsafeHomeError(
            _("{path} can be read by other users (mode {mode}). Make it private with `chmod 600 {path}`, "
              "then run again.").format(path=path, mode=f"{mode:o}")
        )
    if mode & _OTHERS_WRITE:
        raise UnsafeHomeError(
            _("{path} can be written by other users (mode {mode}). Make it private with `chmod 600 {path}`, "
              "then run again.").format(path=path, mode=f"{mode:o}")
        )


def _link(path: Path) -> UnsafeHomeError:
    return UnsafeHomeError(
        _("{path} is a symbolic link: smartsync-tui does not follow links in its home (one planted there "
          "would send its writes elsewhere). Remove it with `rm {path}`, then run again.").format(path=path)
    )


def check_private_file(path: Path, *, secret: bool = False) -> os.stat_result | None:
    """Refuse an existing file of the home another user could change (``secret``: or read).

    Returns its ``lstat``, or ``None`` when there is no such file.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeHomeError(
            _("Cannot check {path}: {reason}. Check its owner and permissions.").format(path=path, reason=exc.strerror)
        ) from None
    if CHECKED:
        _check_file_info(path, info, secret=secret)
    return info


def open_private(path: Path, flags: int, *, secret: bool = False) -> int:
    """``os.open`` for a file of the home: never through a link, created 0600, checked as it is.

    ``flags`` as for ``os.open`` (``os.O_CREAT`` to create it). The descriptor is not
    inherited by child processes. Raises :class:`UnsafeHomeError` for a link or a
    file another user could change.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError as exc:
        # Linux and macOS say ELOOP for a link refused by O_NOFOLLOW, FreeBSD EMLINK.
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise _link(path) from None
        raise
    if CHECKED:
        try:
            _check_file_info(path, os.fstat(fd), secret=secret)
        except BaseException:
            os.close(fd)
            raise
    return fd
