"""A RadioSet whose keyboard cursor starts on the chosen option (the Home tab's log choice, the
proxy dialog's mode)."""

from __future__ import annotations

from textual.widgets import RadioSet


class Choices(RadioSet):
    """A RadioSet whose keyboard cursor starts on the chosen option (RadioSet starts it on the first)."""

    def on_mount(self) -> None:
        # After RadioSet's own mount handling, which puts the cursor on the first option.
        self.call_after_refresh(self._cursor_to_pressed)

    def _cursor_to_pressed(self) -> None:
        for _step in range(max(self.pressed_index, 0)):
            self.action_next_button()
