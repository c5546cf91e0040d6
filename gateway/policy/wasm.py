"""The Wasm policy engine: the bundle's Rego compiled by OPA itself, run in-process by wasmtime.

The compiled module and its manifest are `gateway.policy.compiled` (`make policy-wasm`); one
instance of it, evaluated through OPA's Wasm ABI, is `gateway.policy.wasm_instance`. No OPA
binary is needed to run it.

A decision runs on the caller's thread, the event loop's in the gateway: it takes about
0.2 ms, less than handing it to a thread and back, and a thread of its own made decisions
queue behind the GIL (docs/adr/0022). Its timeout counts its evaluation only: a watchdog
thread looks every `_WATCH_TICK` seconds and stops an evaluation past its deadline with
wasmtime's epoch interruption. After any trap (an abort, a host error, an interruption) the
instance is rebuilt, since a module stopped midway leaves its stack and heap unusable.

`reload()` reads the bundle again: new registry data takes effect at once; new Rego only once
`make policy-wasm` has compiled it. Until then reload refuses and the previous revision decides.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import wasmtime

from gateway.errors import ConfigurationError
from gateway.policy.bundle import PolicyBundle, load_bundle
from gateway.policy.compiled import load_compiled
from gateway.policy.decision import Decision
from gateway.policy.engine import PolicyEngineError, decide_fail_closed, input_json
from gateway.policy.wasm_instance import WasmInstance

__all__ = ["WasmEngine"]

DEFAULT_TIMEOUT: Final = 0.5
# How often the watchdog looks for an evaluation past its deadline: a runaway decision is
# stopped within its timeout plus this.
_WATCH_TICK: Final = 0.02


class _Compiled:
    """One bundle revision: its compiled module and the instance that evaluates it."""

    def __init__(self, engine: wasmtime.Engine, bundle: PolicyBundle) -> None:
        self.revision = bundle.revision
        self._engine = engine
        try:
            self._module = wasmtime.Module(engine, load_compiled(bundle))
        except wasmtime.WasmtimeError as e:
            raise ConfigurationError(f"the compiled policy is not a usable module: {e}") from e
        self._data = json.dumps(
            bundle.data, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
        self._lock = threading.Lock()
        self._instance: WasmInstance | None = self._instantiate()

    def _instantiate(self) -> WasmInstance:
        try:
            return WasmInstance(self._engine, self._module, self._data)
        except (PolicyEngineError, wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise ConfigurationError(f"cannot load the registry into the policy module: {e}") from e

    def evaluate(self, input_text: bytes) -> object:
        with self._lock:
            try:
                if self._instance is None:
                    self._instance = self._instantiate()
                results = self._instance.evaluate(input_text)
            except Exception as e:  # traps, host errors, aborts: the instance is spent
                self._instance = None
                raise PolicyEngineError(f"the Wasm policy failed: {_first_line(e)}") from e
        # One entrypoint, no query variables: `[{"result": document}]`, or `[]` if undefined.
        match results:
            case [{"result": document}]:
                return document
            case []:
                raise PolicyEngineError("the decision is undefined")
        raise PolicyEngineError("the policy module returned a malformed result set")


class _Watchdog:
    """Stops an evaluation that runs past its deadline (wasmtime epoch interruption).

    A daemon thread that looks every `_WATCH_TICK` seconds: cheaper than a timer per
    decision, since decisions take far less than a tick. Should the evaluation finish
    between the look and the increment, the next one is interrupted: a spurious denial,
    never a decision made by a stopped module.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._watched: tuple[int, float] | None = None  # (ticket, deadline)
        self.fired: int | None = None  # the ticket last interrupted
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, name="opa-wasm-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopped.wait(_WATCH_TICK):
            watched = self._watched
            if watched is not None and time.monotonic() >= watched[1]:
                self.fired = watched[0]
                self._engine.increment_epoch()

    @contextmanager
    def watching(self, ticket: int, timeout: float) -> Iterator[None]:
        self._watched = (ticket, time.monotonic() + timeout)
        try:
            yield
        finally:
            self._watched = None

    def stop(self) -> None:
        self._stopped.set()
        self._engine.increment_epoch()  # stops an evaluation still running


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


class WasmEngine:
    """`PolicyEngine` running OPA's Wasm compilation of the bundle in-process."""

    def __init__(self, policies_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Load the bundle and its compiled module; raise `ConfigurationError` if unusable."""
        self._dir = policies_dir
        self._timeout = timeout
        config = wasmtime.Config()
        config.epoch_interruption = True
        self._engine = wasmtime.Engine(config)
        self._compiled = _Compiled(self._engine, load_bundle(policies_dir))
        self._tickets = itertools.count()
        self._watchdog = _Watchdog(self._engine)
        self._closed = False

    @property
    def revision(self) -> str:
        return self._compiled.revision

    async def evaluate(self, input_doc: Mapping[str, object]) -> object:
        """The raw decision document; raises `PolicyEngineError` if there is none."""
        return await self._evaluate(self._compiled, input_doc)

    async def decide(self, input_doc: Mapping[str, object]) -> Decision:
        compiled = self._compiled
        return await decide_fail_closed(self._evaluate(compiled, input_doc), compiled.revision)

    async def _evaluate(self, compiled: _Compiled, input_doc: Mapping[str, object]) -> object:
        text = input_json(input_doc).encode("utf-8")
        if self._closed:
            raise PolicyEngineError("the engine is closed: no decisions after close()")
        ticket = next(self._tickets)
        # On this thread: its clock counts the evaluation, never time spent waiting for it.
        with self._watchdog.watching(ticket, self._timeout):
            try:
                return compiled.evaluate(text)
            except PolicyEngineError as e:
                if self._watchdog.fired == ticket:
                    raise PolicyEngineError(f"no decision within {self._timeout:g} s") from e
                raise

    async def reload(self) -> str:
        """Load the bundle again; new Rego needs `make policy-wasm` first, else this refuses."""
        compiled = await asyncio.to_thread(lambda: _Compiled(self._engine, load_bundle(self._dir)))
        self._compiled = compiled
        return compiled.revision

    async def close(self) -> None:
        self._closed = True
        self._watchdog.stop()
