"""How idle OpenMP threads wait: condgan's setting, applied before torch loads.

Between two parallel operations torch's OpenMP threads either spin (fast to restart, but a
spinning thread takes the core from any other process) or sleep (each operation then pays a
wake-up, which dominates small operators such as a 64x512 dropout or batch norm). libgomp's
default spins for about 3 ms; `OMP_WAIT_POLICY=PASSIVE` sleeps at once; `GOMP_SPINCOUNT` sets
the spin in between. condgan uses PASSIVE with a short spin of 3,000 iterations (tens of
microseconds): long enough to bridge the gap between the operators of one training step,
short enough that a busy neighbour process keeps its core. `benchmarks/thread_policy.py`
measures the choices on a quiet machine and beside a busy process.

The variables are read once, when torch's OpenMP runtime starts, so `use_condgan_threads()` must
run before `import torch`: the CLI, the benchmarks and the tests call it first. A wait policy the
user set (either variable) is kept as it is, and `CONDGAN_OPENMP=default` keeps the OpenMP
runtime's own default (libgomp: spin ~3 ms). OpenMP runtimes other than libgomp (the one in the
Linux CPU wheels of torch) ignore GOMP_SPINCOUNT and then just sleep (PASSIVE).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
CONDGAN_WAIT = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000"}
OPT_OUT = "CONDGAN_OPENMP"  # =default: leave the OpenMP runtime's default alone


def use_condgan_threads(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set condgan's OpenMP wait policy unless the user chose one (or opted out); True if it was set."""
    if any(name in environ for name in WAIT_VARIABLES) or environ.get(OPT_OUT) == "default":
        return False
    environ.update(CONDGAN_WAIT)
    return True


def library_default_environment(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """A copy of `environ` for a child process that runs with the OpenMP runtime's default, what a script
    that never set a wait policy gets: no wait-policy variable, and condgan's code told not to set one."""
    return {**{name: value for name, value in environ.items() if name not in WAIT_VARIABLES}, OPT_OUT: "default"}
