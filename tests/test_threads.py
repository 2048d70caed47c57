"""condgan's OpenMP wait policy: set before torch loads, never over the user's own choice."""

import subprocess
import sys

import pytest

from condgan.threads import CONDGAN_WAIT, library_default_environment, use_condgan_threads


def test_an_environment_without_a_wait_policy_gets_condgans():
    environ = {"PATH": "/bin"}
    assert use_condgan_threads(environ) is True
    assert environ == {"PATH": "/bin", **CONDGAN_WAIT}


@pytest.mark.parametrize("chosen", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "0"}])
def test_a_wait_policy_the_user_set_is_kept_whole(chosen):
    environ = dict(chosen)
    assert use_condgan_threads(environ) is False
    assert environ == chosen  # no spin count added beside ACTIVE, no policy beside a spin count


def test_the_library_default_environment_drops_the_wait_variables_and_opts_out():
    environ = {"PATH": "/bin", "OMP_NUM_THREADS": "2", **CONDGAN_WAIT}
    child = library_default_environment(environ)
    assert child == {"PATH": "/bin", "OMP_NUM_THREADS": "2", "CONDGAN_OPENMP": "default"}
    assert use_condgan_threads(child) is False and "OMP_WAIT_POLICY" not in child  # a child keeps the default


def test_the_cli_sets_the_policy_before_torch_loads():
    code = (
        "import os, sys\n"
        "for name in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT'): os.environ.pop(name, None)\n"
        "import condgan.cli\n"
        "print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    policy, spin, torch_loaded = done.stdout.split()
    assert (policy, spin) == (CONDGAN_WAIT["OMP_WAIT_POLICY"], CONDGAN_WAIT["GOMP_SPINCOUNT"])
    assert torch_loaded == "False"  # set in time: the OpenMP runtime reads them when torch loads
