"""Driving the console's forms by keyboard, as an admin does."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.screen import Screen
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


async def activate(pilot: Pilot, selector: str) -> None:
    """Focus and press Enter: what a keyboard user does (works below the fold at 80x24 too)."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    await pilot.pause()
    while widget.has_class("-active"):  # a button ignores Enter while it shows its last press (0.2 s)
        await pilot.pause(0.05)
    await pilot.press("enter")
    await pilot.pause()


async def opened(pilot: Pilot, screen: Screen, callback=None) -> Screen:  # type: ignore[no-untyped-def]
    """``screen`` pushed and shown (``callback`` gets what it dismisses with)."""
    pilot.app.push_screen(screen, callback)
    await pilot.pause()
    return screen
