"""Structured JSON logs and Prometheus metrics, for the gateway and the adapters.

Logs carry the request id and the shape of a request (caller, purpose,
dataset, decision, status), never field values: filter values and results do
not appear in any log line.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

import structlog
from prometheus_client import Counter, Histogram, start_http_server

REQUESTS: Final = Counter(
    "gerbang_requests_total",
    "Requests handled, by service, method, policy decision and gRPC status code.",
    ["service", "method", "decision", "code"],
)
LATENCY: Final = Histogram(
    "gerbang_request_seconds",
    "Time to answer a request, by service and method.",
    ["service", "method"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUDIT_APPEND: Final = Histogram(
    "gerbang_audit_append_seconds",
    "Time from handing an entry to the audit writer to its durable commit.",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
)
STORE_COMMITS: Final = Counter(
    "gerbang_store_commits_total",
    "Durable write transactions of the audit store, by what they wrote: `entries` (audit "
    "entries with their requests' nonce claims), `nonces` (nonce claims alone).",
    ["kind"],
)
POLICY_DECISION: Final = Histogram(
    "gerbang_policy_decision_seconds",
    "Policy decision latency, by engine.",
    ["engine"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 1),
)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr, one event per line, with ISO UTC timestamps."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    if port:
        start_http_server(port, addr=host)
