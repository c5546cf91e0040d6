"""Several gateway processes on one port: a supervisor and its workers.

`gerbang gateway serve --workers N` runs N full gateways (each with its own
policy engine, audit writer and adapter channels) listening on the same
address. gRPC sets SO_REUSEPORT on Linux (the server also asks for it with
`grpc.so_reuseport`), so the kernel spreads incoming connections over the
workers; one connection stays with one worker. Every worker appends to the same
audit store: the store takes the log's write lock per batch, so the chain stays
linear (gateway/audit/store.py).

The supervisor, in order:
1. creates the audit store's tables once (workers creating them at the same
   time would race on CREATE TABLE);
2. spawns the workers (spawned, not forked: gRPC's threads do not survive a
   fork) and waits until each one is serving, or one has failed;
3. forwards SIGTERM and SIGINT to the workers and waits for them to stop;
4. when a worker exits on its own, stops the others and exits non-zero. Serving
   on with fewer workers would hide the failure; the service manager restarts
   the whole set, as it would restart a single gateway.

Only the workers of one set share a port. Every `gerbang gateway serve` (a lone
gateway, or the supervisor of a set) first claims the port with `claim_port`; a
second one on the same port refuses to start instead of taking a share of the
first one's connections through SO_REUSEPORT with another configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

import structlog

from gateway.audit.store import AuditStore
from gateway.errors import ConfigurationError, GerbangError
from gateway.service.server import GatewayConfig

log = structlog.get_logger("gerbang.workers")

START_TIMEOUT: Final = 120.0
STOP_TIMEOUT: Final = 15.0


def claim_port(listen: str) -> socket.socket | None:
    """This process's claim on the TCP port of `listen`, held until the socket is closed
    (at the latest when the process exits); `ConfigurationError` if another gateway holds it.

    The claim is a Unix socket bound in Linux's abstract namespace (no file to clean up
    after a crash), named after the port: per host and network namespace, like the port.
    Port 0 (any free port) needs no claim.
    """
    port = listen.rpartition(":")[2]
    if not port.isdigit():
        raise ConfigurationError(f"--listen {listen!r} names no port")
    if int(port) == 0:
        return None
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0gerbang-gateway-port-{int(port)}")
    except OSError as e:
        claim.close()
        raise ConfigurationError(
            f"another gerbang gateway already serves port {port} on this host; stop it, or "
            "run several processes as one set with --workers ({e.strerror})"
        ) from e
    return claim


def _whole_line_stderr() -> None:
    """Make each log line one write(2), so lines from workers sharing a file never interleave.

    Python's stderr writes straight through: `print` writes a line and its newline in two
    calls, and another worker's line can land between them.
    """
    raw = io.FileIO(sys.stderr.fileno(), "w", closefd=False)
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(raw, buffer_size=1 << 16),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )


def _worker_main(
    config: GatewayConfig,
    index: int,
    metrics_port: int,
    ready: multiprocessing.connection.Connection,
) -> None:
    """One worker: a whole gateway that tells the supervisor when it is serving."""
    from gateway.policy import engine_from_config
    from gateway.protocol.observability import configure_logging, serve_metrics
    from gateway.service.server import serve

    _whole_line_stderr()
    configure_logging()
    structlog.contextvars.bind_contextvars(worker=index)
    # Each worker has its own registry of metrics, so each needs a port of its own.
    serve_metrics(metrics_port + index if metrics_port else 0)

    async def main() -> None:
        serving_now = asyncio.Event()
        engine = engine_from_config(
            config.engine, config.policies_dir, opa_url=config.opa_url, opa_tls=config.opa_tls
        )
        serving = asyncio.ensure_future(serve(config, engine, ready=serving_now, reuse_port=True))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, serving.cancel)
        told = asyncio.ensure_future(serving_now.wait())
        await asyncio.wait({serving, told}, return_when=asyncio.FIRST_COMPLETED)
        if told.done():
            ready.send(index)
        else:
            told.cancel()
        ready.close()
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    try:
        asyncio.run(main())
    except GerbangError as e:
        log.error("gateway worker failed", error=str(e))
        sys.exit(1)
    finally:
        # asyncio.run has removed the loop's handlers; a second SIGTERM (the service
        # manager's and the supervisor's both reach a worker) must not kill the exit.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class _Supervisor:
    workers: list[multiprocessing.process.BaseProcess] = field(default_factory=list)
    stopping: bool = False
    told: set[int] = field(default_factory=set)  # workers already sent SIGTERM

    def signal_workers(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` once to each worker still running."""
        for w in self.workers:
            if w.pid is not None and w.exitcode is None and w.pid not in self.told:
                self.told.add(w.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, sig)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self.signal_workers(signal.SIGTERM)

    def stop_all(self) -> None:
        self.signal_workers(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for w in self.workers:
            w.join(max(0.0, deadline - time.monotonic()))
        for w in self.workers:
            if w.exitcode is None:
                w.kill()
                w.join()


def serve_workers(config: GatewayConfig, count: int, *, metrics_port: int = 0) -> int:
    """Run `count` gateway workers on `config.listen` until SIGTERM or SIGINT; the exit code."""
    store = AuditStore(config.audit_url)
    try:
        store.create()
    finally:
        store.close()
    ctx = multiprocessing.get_context("spawn")
    sup = _Supervisor()
    previous = {s: signal.signal(s, sup.on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        pending: dict[multiprocessing.connection.Connection, int] = {}
        for i in range(count):
            receive, send = ctx.Pipe(duplex=False)
            worker = ctx.Process(
                target=_worker_main,
                args=(config, i, metrics_port, send),
                name=f"gerbang-gateway-worker-{i}",
            )
            worker.start()
            send.close()
            sup.workers.append(worker)
            pending[receive] = i
        if not _wait_ready(sup, pending):
            sup.stop_all()
            return 0 if sup.stopping else 1
        log.info(
            "gateway workers serving",
            listen=config.listen,
            workers=count,
            pids=[w.pid for w in sup.workers],
        )
        # Every worker's sentinel, dead or alive: a list of the live ones, built after the
        # check, could miss a worker that died in between and block for ever.
        sentinels = [w.sentinel for w in sup.workers]
        while not sup.stopping and all(w.exitcode is None for w in sup.workers):
            multiprocessing.connection.wait(sentinels)
        if not sup.stopping:
            gone = [w for w in sup.workers if w.exitcode is not None]
            log.error(
                "gateway worker exited; stopping the others",
                workers=[(w.name, w.exitcode) for w in gone],
            )
        sup.stop_all()
        codes = [w.exitcode for w in sup.workers]
        log.info("gateway workers stopped", exit_codes=codes)
        return 0 if sup.stopping and all(c == 0 for c in codes) else 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait_ready(
    sup: _Supervisor, pending: dict[multiprocessing.connection.Connection, int]
) -> bool:
    """Wait until every worker says it serves; False if one exits or time runs out first."""
    deadline = time.monotonic() + START_TIMEOUT
    while pending and not sup.stopping:
        left = deadline - time.monotonic()
        if left <= 0:
            log.error("gateway workers not serving in time", waiting=sorted(pending.values()))
            return False
        waitables: Sequence[multiprocessing.connection.Connection | int] = [
            *pending,
            *(w.sentinel for w in sup.workers),
        ]
        for ready in multiprocessing.connection.wait(waitables, left):
            if isinstance(ready, int):
                failed = [w.name for w in sup.workers if w.sentinel == ready]
                log.error("gateway worker exited while starting", worker=failed)
                return False
            assert isinstance(ready, multiprocessing.connection.Connection)
            index = pending.pop(ready)
            try:
                ready.recv()
            except EOFError:  # it closed the pipe without saying it serves: it is failing
                log.error("gateway worker failed while starting", worker=index)
                return False
            finally:
                ready.close()
    return not sup.stopping
