"""`gerbang witness --listen`: a C2SP tlog-witness HTTP server for any standard log.

    POST /add-checkpoint              cosign a checkpoint (tlog-witness §add-checkpoint)
    GET  /<origin hash>/checkpoint    the latest cosigned checkpoint of a log
                                      (§Monitor Retrieval Mechanism)

The checks and their status codes are `gateway.tlog.witness_protocol`; this
module holds the state and speaks HTTP. State is one SQLite row per origin.
Reading the recorded size, checking the request against it, cosigning and
writing the new size happen inside one `BEGIN IMMEDIATE` transaction, so two
requests (from threads or from several witness processes on one database)
cannot both pass the check against the same old size: the race the spec
describes, where a late request rolls the state back, cannot happen.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import structlog

from gateway.oversight.witness import WitnessKey
from gateway.tlog.note import NoteVerifier, parse_verifier_key
from gateway.tlog.witness_protocol import (
    AddCheckpoint,
    LogState,
    WitnessRefusal,
    check_add_checkpoint,
    note_origin,
    origin_hash,
    verified_note,
)

log = structlog.get_logger("gerbang.witness")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witnessed_logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    note BLOB NOT NULL
)
"""
_MAX_REQUEST = 1 << 20


@dataclass(frozen=True)
class WitnessedLogs:
    """The logs this witness accepts: origin to the log's trusted note keys (name = origin)."""

    keys: Mapping[str, Sequence[NoteVerifier]]

    @classmethod
    def from_vkeys(cls, vkeys: Sequence[str]) -> WitnessedLogs:
        keys: dict[str, list[NoteVerifier]] = {}
        for vkey in vkeys:
            verifier = parse_verifier_key(vkey)
            keys.setdefault(verifier.name, []).append(verifier)
        return cls(keys)


class WitnessState:
    """Per-origin state in SQLite, with the atomic check-and-update the spec requires."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def add_checkpoint(
        self, request: AddCheckpoint, logs: WitnessedLogs, key: WitnessKey, now: int
    ) -> str:
        """Check `request` against the recorded state, cosign, record; return the cosignatures.

        Raises `WitnessRefusal` and records nothing when a check fails."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock, held from the read to the commit
            try:
                origin = note_origin(request.note)
                row = conn.execute(
                    "SELECT size, root_hash FROM witnessed_logs WHERE origin = ?", (origin,)
                ).fetchone()
                state = LogState() if row is None else LogState(int(row[0]), bytes(row[1]))
                checkpoint, verified = check_add_checkpoint(request, logs.keys, state)
                lines = key.cosign(checkpoint, now)
                conn.execute(
                    "INSERT INTO witnessed_logs (origin, size, root_hash, note) VALUES (?,?,?,?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
                    "root_hash = excluded.root_hash, note = excluded.note",
                    (
                        origin,
                        checkpoint.size,
                        checkpoint.root_hash,
                        verified_note(verified, lines),
                    ),
                )
                conn.execute("COMMIT")  # persisted before the answer (§add-checkpoint)
                return "".join(lines)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def latest(self, hashed_origin: str) -> bytes | None:
        """The latest cosigned checkpoint note of the log whose origin hashes to `hashed_origin`."""
        conn = self._connect()
        try:
            for origin, note in conn.execute("SELECT origin, note FROM witnessed_logs"):
                if origin_hash(origin) == hashed_origin:
                    return bytes(note)
            return None
        finally:
            conn.close()


def _handler(state: WitnessState, logs: WitnessedLogs, key: WitnessKey) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the spec recommends
        # Headers and body go out in separate writes: without TCP_NODELAY a keep-alive
        # client waits for the delayed ACK (40 ms) on every response.
        disable_nagle_algorithm = True

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/add-checkpoint":
                self._send(404, b"not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_REQUEST:
                self._send(413, b"request too large\n", "text/plain")
                return
            body = self.rfile.read(length)
            try:
                lines = state.add_checkpoint(AddCheckpoint.parse(body), logs, key, int(time.time()))
            except WitnessRefusal as e:
                log.info("add-checkpoint refused", status=e.status, reason=str(e))
                self._send(e.status, *e.body())
                return
            self._send(200, lines.encode(), "text/plain; charset=utf-8")

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[1] == "checkpoint":
                note = state.latest(parts[0])
                if note is not None:
                    self._send(200, note, "text/plain; charset=utf-8")
                    return
            self._send(404, b"not found\n", "text/plain")

        def log_message(self, format: str, *args: object) -> None:
            pass  # refusals are logged above; nothing else is worth a line

    return Handler


def make_server(
    address: tuple[str, int], state: WitnessState, logs: WitnessedLogs, key: WitnessKey
) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(address, _handler(state, logs, key))
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="tlog-witness", daemon=True)
    thread.start()
    return thread
