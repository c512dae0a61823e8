"""Where the sync engine sends what it read from AD: the target contract (``base``), the
registry of targets by name (``registry``) and one package or module per target.

The engine knows only ``base`` and ``registry``; a target's own client (HTTP, its errors,
its wire format) stays inside that target's module.
"""
