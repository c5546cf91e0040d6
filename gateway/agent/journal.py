"""The agent's journal: one JSON line per request, appended and flushed to disk before the
answer leaves, saying which client asked what, for whom, and what came of it.

The journal is the organisation's own record. It holds the end user in clear beside the
commitment that went upstream, so the organisation (and only it) can open a commitment found
in the federation's audit log: `gerbang agent journal open <hex>` lists the person behind it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.agent.auth import EndUser


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = asyncio.Lock()
        # Append-only: the descriptor is opened O_APPEND and never seeks.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def record(
        self,
        *,
        client: str,
        user: EndUser | None,
        operation: str,
        request: dict[str, Any],
        status: int,
        request_id: str = "",
        audit_entry: int | None = None,
        detail: str = "",
    ) -> str:
        """Append the line and return its time (RFC 3339, UTC, milliseconds)."""
        line = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "client": client,
            "user": None
            if user is None
            else {"iss": user.issuer, "sub": user.subject, "commitment": user.commitment.hex()},
            "operation": operation,
            "request": request,
            "status": status,
            "request_id": request_id,
            "audit_entry": audit_entry,
        }
        if detail:
            line["detail"] = detail
        data = (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode()
        async with self._lock:
            await asyncio.to_thread(self._write, data)
        return str(line["time"])

    def _write(self, data: bytes) -> None:
        os.write(self._fd, data)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def entries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def replay(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole line of the journal, for rebuilding the agent's state at start; a line torn
    by a crash mid-write (only ever the last) is passed over."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(entry, dict):
                yield entry


def open_commitment(path: Path, commitment_hex: str) -> list[dict[str, Any]]:
    """Every journal line whose end user committed to `commitment_hex` (oversight)."""
    wanted = commitment_hex.lower()
    return [e for e in entries(path) if (e.get("user") or {}).get("commitment") == wanted]
