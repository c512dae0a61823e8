"""The console's screens and dialogs, each imported where it opens (ui/app.py)."""
