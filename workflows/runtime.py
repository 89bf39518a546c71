"""Settings of a warmflow process as a whole (the web app, the timer worker, the CLI and
the benchmarks, which measure what those run)."""

import gc

# Python's cyclic garbage collector looks at its youngest objects every 700 allocations
# by default, and at older ones every tenth and hundredth time. Restoring a case's
# workflow allocates thousands of small objects in cycles (tasks and their parents), so
# with the default the collector ran many times per action, going through a session's
# rows and the loaded diagrams again each time. Every 10,000 collects the same garbage,
# less often. Measured on moving 1,000 bank results on (bench/campaign.py's delivery):
# 384 -> 574-589 cases/s, the same peak memory (123 MB); a launch gained about 5 %.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Set the collector's thresholds for this process (idempotent)."""
    gc.set_threshold(*GC_THRESHOLDS)
