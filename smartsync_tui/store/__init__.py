"""The state store: what the engine knows of each directory between runs (SQLite)."""
