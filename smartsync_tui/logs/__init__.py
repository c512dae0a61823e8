"""The logs: the application log and the event log set up in a home (setup.py), and the event
log's reader for the console, the CLI and the browser export (event_log.py)."""
