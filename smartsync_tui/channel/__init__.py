"""The control channel: how an attached console drives the engine of another process."""
