"""The demo (`smartsync-tui demo`): the console on a throw-away emulator and demo directory.

A dev tool like the emulator and the test bed, which it starts: nothing in the product imports it
(the CLI loads it by name)."""
