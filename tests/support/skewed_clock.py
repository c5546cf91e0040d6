"""Run `gerbang ...` with its wall clock skewed by $GERBANG_TEST_CLOCK_SKEW seconds.

A test launcher (LocalFederation's `gateway_launcher`): `datetime.datetime.now` is shifted
before the gateway is imported, as a process on a host with a wrong clock would see it.
TLS certificate checks (OpenSSL's own clock) are unaffected, as they would be with a
skewed application clock only.
"""

from __future__ import annotations

import datetime
import os
import runpy
import sys

_OFFSET = datetime.timedelta(seconds=float(os.environ.get("GERBANG_TEST_CLOCK_SKEW", "0")))
_REAL = datetime.datetime


class _SkewedDatetime(_REAL):
    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> _REAL:  # type: ignore[override]
        return _REAL.now(tz) + _OFFSET


if __name__ == "__main__":
    datetime.datetime = _SkewedDatetime  # type: ignore[misc]
    sys.argv = ["gerbang", *sys.argv[1:]]
    runpy.run_module("gateway.cli", run_name="__main__", alter_sys=True)
