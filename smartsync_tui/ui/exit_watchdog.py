"""A closed console ends, whatever thread is left running.

Python waits at exit for every non-daemon thread, and ``asyncio.run`` (under
Textual's ``App.run``) for every thread of the loop's executor (a sync worker).
One of them stuck (a read that never returns, a library's thread on a dead
file descriptor) kept a console that nobody could see alive for ever, with
the engine lock, so `smartsync-tui run` was refused. A console that has
closed needs none of them: a sync cut short is picked up by the next run, as
after a kill (docs/sync.md).

- :func:`arm` (when the app unmounts): if ``App.run`` has not returned
  ``grace`` seconds later, the process exits.
- :func:`arm_at_interpreter_exit` (after ``App.run`` returned): if the
  interpreter is still waiting for threads ``grace`` seconds after the main
  thread finished, the process exits. Whatever the caller does after the console
  (the demo removes what it started) runs first: this waits for the main thread.

Each names the threads it did not wait for in the application log.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("smartsync.console")


class Watchdog:
    def __init__(self, grace: float, *, after_main_thread: bool, code: int = 0) -> None:
        self._grace = grace
        self._after_main = after_main_thread
        self._code = code
        self._disarmed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="exit-watchdog", daemon=True)
        self._thread.start()

    def disarm(self) -> None:
        self._disarmed.set()

    def _watch(self) -> None:
        if self._after_main:
            threading.main_thread().join()  # returns once the interpreter starts its exit
        if self._disarmed.wait(self._grace):
            return
        left = sorted(t.name for t in threading.enumerate()
                      if t is not threading.current_thread() and t.is_alive())
        log.warning("the console closed %.0f s ago but threads %s still ran: exiting without them",
                    self._grace, ", ".join(left) or "(none)")
        for handler in logging.getLogger("smartsync").handlers:
            try:
                handler.flush()
            except Exception:
                pass
        os._exit(self._code)


def arm(grace: float) -> Watchdog:
    return Watchdog(grace, after_main_thread=False)


def arm_at_interpreter_exit(grace: float, code: int = 0) -> Watchdog:
    return Watchdog(grace, after_main_thread=True, code=code)

