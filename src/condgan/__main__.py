"""`python -m condgan` (and `torchrun -m condgan`) is the `condgan` command."""

import sys

from condgan.cli import main

sys.exit(main())
