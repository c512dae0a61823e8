"""The console's widgets: data in, messages out; they reach the console through ui/console_context.py."""
