"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak RSS since its exec.

    VmHWM, not getrusage's ru_maxrss: on Linux a child's ru_maxrss starts at the
    RSS its parent had when it forked (exec keeps the old mm's high-water mark),
    so a big parent would show up as every child's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
