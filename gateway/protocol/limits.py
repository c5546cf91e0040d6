"""The limits on a request, and `InvalidQuery`, the refusal of one outside them or malformed.

Generous for real queries, small enough that a request cannot be used to exhaust the
gateway, the policy engine or an adapter; enforced once, by the constructors of the query
model (`gateway.protocol.model`) and the value decoders (`gateway.protocol.values`).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from gateway.errors import UntrustedInputError

# Sizes.
MAX_FIELDS: Final = 64
MAX_FILTERS: Final = 32
MAX_VALUES: Final = 256
# Across all filters: each value is a 64-hex commitment in the audit leaf, and a leaf holds
# at most 65,535 bytes (C2SP tlog-tiles); 512 leaves room for everything else in it.
MAX_TOTAL_VALUES: Final = 512
MAX_STRING: Final = 256
MAX_GROUP_BY: Final = 8
MAX_REQUEST_BYTES: Final = 64 * 1024
# Times. The times a request may name (filter values, analytics windows): every incident record,
# with room to spare. Planning and release windows step by months, weeks and time zones
# from them; far from datetime's limits (years 1 and 9999) those steps cannot overflow.
EARLIEST_TIME: Final = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_TIME: Final = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


class InvalidQuery(UntrustedInputError):
    """The request is malformed: it names the part that is wrong."""
