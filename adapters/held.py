"""Releases an adapter holds: the same question in the same hold period gets the same answer.

A differentially private release is stored as the serialised ResultSet it released, keyed by
the release id the gateway signed into the plan (docs/adr/0009). Asked again, the adapter
answers with exactly those bytes, re-sealed to the new caller: no new draw of noise, so
repeating a question cannot average the noise away, and data that changed since is not
differenced against the first answer either. Two fresh plans for one release racing each
other both end with the first stored answer.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path


class HeldReleases:
    """Held releases in a small SQLite file beside the adapter's other state."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS held_releases ("
            "release_id BLOB PRIMARY KEY, held_until REAL NOT NULL, result BLOB NOT NULL)"
        )
        self._lock = threading.Lock()

    def get(self, release_id: bytes, now: dt.datetime) -> bytes | None:
        """The held answer, or None (never made here, or its hold period is over)."""
        with self._lock:
            row = self._db.execute(
                "SELECT result FROM held_releases WHERE release_id = ? AND held_until > ?",
                (release_id, now.timestamp()),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def hold(self, release_id: bytes, result: bytes, until: dt.datetime, now: dt.datetime) -> bytes:
        """Keep `result` until `until`, unless another answer was held first: return the one
        that is held."""
        with self._lock:
            self._db.execute("DELETE FROM held_releases WHERE held_until <= ?", (now.timestamp(),))
            self._db.execute(
                "INSERT OR IGNORE INTO held_releases VALUES (?, ?, ?)",
                (release_id, until.timestamp(), result),
            )
            row = self._db.execute(
                "SELECT result FROM held_releases WHERE release_id = ?", (release_id,)
            ).fetchone()
        return bytes(row[0])

    def close(self) -> None:
        self._db.close()
