"""`hcvg` with one more adapter, `dies-on-rank-1`, for tests/test_distributed.py.

`dies-on-rank-1` is `static`, except that the process with ``RANK=1`` exits at its first
batch, with status 0 and without a word: the death a launcher does not notice (torchrun
tears the group down only when a worker exits non-zero), so the surviving ranks must
notice it themselves.
"""

from __future__ import annotations

import os
import sys

from adapters.registry import ADAPTERS
from adapters.static import StaticAdapter


class DiesOnRank1(StaticAdapter):
    name = "dies-on-rank-1"

    def generate(self, requests):
        if os.environ.get("RANK") == "1":
            os._exit(0)
        return super().generate(requests)


ADAPTERS.register("dies-on-rank-1", DiesOnRank1)

if __name__ == "__main__":
    from benchmark.cli.main import main

    sys.exit(main())
