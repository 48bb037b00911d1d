"""CPU time the hypervisor takes from this virtual machine (steal, from /proc/stat): while
it is taken, no process here runs, and requests wait. Read by `bench.py` over a whole load
and by `view_load.py` in each second of one."""

from __future__ import annotations

import os
from pathlib import Path

# /proc/stat counts in clock ticks (10 ms where USER_HZ is 100).
TICK_SECONDS = 1 / os.sysconf("SC_CLK_TCK")


def steal_seconds() -> float:
    """CPU time taken from this machine so far, all cores (0 if unknown)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) * TICK_SECONDS
    except (OSError, IndexError, ValueError):
        return 0.0
