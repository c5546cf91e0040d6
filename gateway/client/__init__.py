"""The caller's library: what a city system installs to ask Gerbang (`gerbang-client`).

    from gateway.client import GerbangClient, Query
    async with GerbangClient.connect("127.0.0.1:7443", pki_dir, "dishub-atcs") as client:
        result = await client.query(Query(...))

`core` signs, sends, verifies, opens and merges one request; `analytics` runs the analytic
methods on the caller's side over the counts only the caller can open; `render` draws a
released heatmap. Everything here depends on the shared protocol (`gateway.protocol`,
`gateway.tlog`) and never on the gateway's service, its audit store or its policies.
"""

from gateway.client.core import (
    AuditUnavailable,
    CallerKeys,
    GerbangClient,
    InvalidQuery,
    Overloaded,
    PartRefused,
    PolicyDenied,
    QueryRefused,
    QueryResult,
    Receipt,
    StreamExpired,
    TransportError,
    Unauthenticated,
)
from gateway.protocol.model import Filter, Op, Query

__all__ = [
    "AuditUnavailable",
    "CallerKeys",
    "Filter",
    "GerbangClient",
    "InvalidQuery",
    "Op",
    "Overloaded",
    "PartRefused",
    "PolicyDenied",
    "Query",
    "QueryRefused",
    "QueryResult",
    "Receipt",
    "StreamExpired",
    "TransportError",
    "Unauthenticated",
]
