"""The audit log of a running local federation, read from its store as an auditor would:
its size, one entry's clear fields, or a range of them. Each call opens and closes the store,
so a test sees what the gateway has committed at that moment."""

from __future__ import annotations

from typing import Any

from gateway.audit.store import AuditStore
from tools.federation import LocalFederation


def log_size(federation: LocalFederation) -> int:
    store = AuditStore(federation.audit_url)
    try:
        return store.head().size
    finally:
        store.close()


def entry(federation: LocalFederation, index: int) -> dict[str, Any]:
    """Entry `index`'s clear fields."""
    store = AuditStore(federation.audit_url)
    try:
        return store.entries(index, index + 1)[0].fields()
    finally:
        store.close()


def entries(federation: LocalFederation, start: int = 0) -> list[dict[str, Any]]:
    """The clear fields of every entry from `start` to the log's head."""
    store = AuditStore(federation.audit_url)
    try:
        return [e.fields() for e in store.entries(start, store.head().size)]
    finally:
        store.close()
