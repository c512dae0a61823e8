"""Driving the console's forms by keyboard, as an admin does."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Select


async def choose(pilot: Pilot, select: Select, value: str) -> None:
    """Pick an option of a Select by keyboard: focus, Enter, arrows, Enter."""
    select.focus()
    await pilot.press("enter")
    options = [v for _label, v in select._options]
    steps = options.index(value) - options.index(select.value)
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    await pilot.pause()
    assert select.value == value
