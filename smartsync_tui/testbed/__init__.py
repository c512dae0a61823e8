"""Throw-away servers for the demo, the tests and the benchmarks (a Samba AD
DC on 127.0.0.1). Not used by the agent itself."""
