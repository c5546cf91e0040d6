"""The Wasm policy engine: the bundle's Rego compiled by OPA itself, run in-process by wasmtime.

`make policy-wasm` (tools/policywasm.py) runs `opa build -t wasm -e gerbang/authz/decision`
over the bundle's policy modules and commits the result as `policies/compiled/decision.wasm`,
beside `decision.toml` naming the OPA version and the SHA-256 of the Rego sources and of the
module. No OPA binary is needed to run it. The engine refuses a module compiled from other Rego
than the bundle's, so the revision on a decision always names the Rego that made it.

Evaluation follows OPA's Wasm ABI, version 1.2 and later (OPA docs, "WebAssembly"): the
registry data is parsed into the instance's heap once; for each decision the input JSON is
written just past it and `opa_eval` runs the entrypoint, first resetting the heap to the end of
the input, so nothing accumulates between decisions. Builtins the module leaves to the host are
named by its `builtins` export; this policy needs only `sprintf` (see `sprintf` below). A module
needing any other host builtin is refused when loaded, not when it first decides.

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
import ctypes
import hashlib
import itertools
import json
import math
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

import wasmtime
from wasmtime import _ffi
from wasmtime._func import enter_wasm

from gateway.errors import ConfigurationError
from gateway.policy.bundle import ENTRYPOINT, PolicyBundle, bundle_revision, load_bundle
from gateway.policy.decision import Decision
from gateway.policy.engine import PolicyEngineError, decide_fail_closed, input_json

__all__ = [
    "COMPILED_DIR",
    "MANIFEST_FILE",
    "MODULE_FILE",
    "CompiledPolicy",
    "SprintfError",
    "WasmEngine",
    "load_compiled",
    "sources_digest",
    "sprintf",
]

DEFAULT_TIMEOUT: Final = 0.5
COMPILED_DIR: Final = "compiled"
# Not `policy.wasm` nor `*.json`: `opa run --bundle policies/` would load those as its own.
MODULE_FILE: Final = "decision.wasm"
MANIFEST_FILE: Final = "decision.toml"
REGENERATE: Final = "run `make policy-wasm` (needs the OPA binary) and commit the result"

_ABI_MAJOR: Final = 1
_ABI_MIN_MINOR: Final = 2  # opa_eval, the one-call evaluation, arrived in ABI 1.2
_WASM_PAGE: Final = 65536
_INITIAL_PAGES: Final = 16
_MAX_PAGES: Final = 2048  # 128 MiB: a decision needing more is refused (fail closed)
_READ_CHUNK: Final = 4096
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HOST_BUILTINS: Final = frozenset({"sprintf"})
# How often the watchdog looks for an evaluation past its deadline: a runaway decision is
# stopped within its timeout plus this.
_WATCH_TICK: Final = 0.02


# --- the compiled artefact ---------------------------------------------------------------


def sources_digest(bundle: PolicyBundle) -> str:
    """SHA-256 over the policy modules, as the bundle revision hashes files; tests left out."""
    return bundle_revision({m.path: m.source.encode("utf-8") for m in bundle.policy_modules})


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """`decision.toml`: what `decision.wasm` was compiled from, and by which OPA."""

    entrypoint: str
    opa_version: str
    sources_sha256: str
    wasm_sha256: str

    def __post_init__(self) -> None:
        for name in ("sources_sha256", "wasm_sha256"):
            if not _HEX64.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} must be 64 lowercase hex digits")
        if not re.fullmatch(r"[0-9A-Za-z.+-]{1,40}", self.opa_version):
            raise ValueError(f"opa_version {self.opa_version!r} is not a version")
        if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)*", self.entrypoint):
            raise ValueError(f"entrypoint {self.entrypoint!r} is not a rule path")

    def render(self) -> str:
        return (
            f"# Written by `make policy-wasm` (tools/policywasm.py); do not edit.\n"
            f"# {MODULE_FILE} is `opa build -t wasm -e {self.entrypoint}` of the policy modules.\n"
            f'entrypoint = "{self.entrypoint}"\n'
            f'opa_version = "{self.opa_version}"\n'
            f'sources_sha256 = "{self.sources_sha256}"\n'
            f'wasm_sha256 = "{self.wasm_sha256}"\n'
        )

    @classmethod
    def parse(cls, text: str) -> CompiledPolicy:
        """Raise `ValueError` unless `text` is exactly such a manifest."""
        doc = tomllib.loads(text)
        keys = {"entrypoint", "opa_version", "sources_sha256", "wasm_sha256"}
        if set(doc) != keys or not all(isinstance(v, str) for v in doc.values()):
            raise ValueError(f"it must hold exactly the strings {', '.join(sorted(keys))}")
        return cls(**doc)


def load_compiled(bundle: PolicyBundle) -> bytes:
    """The bundle's compiled module; `ConfigurationError` if missing, damaged or stale."""
    where = bundle.root / COMPILED_DIR
    try:
        manifest = CompiledPolicy.parse((where / MANIFEST_FILE).read_text("utf-8"))
        module = (where / MODULE_FILE).read_bytes()
    except (OSError, UnicodeDecodeError, ValueError) as e:  # TOMLDecodeError is a ValueError
        raise ConfigurationError(f"no usable compiled policy in {where} ({e}); {REGENERATE}") from e
    if manifest.entrypoint != ENTRYPOINT:
        raise ConfigurationError(
            f"{where / MODULE_FILE} decides {manifest.entrypoint!r}, not {ENTRYPOINT!r}; "
            f"{REGENERATE}"
        )
    if manifest.sources_sha256 != sources_digest(bundle):
        raise ConfigurationError(
            f"{where / MODULE_FILE} was compiled from other Rego than {bundle.root} holds "
            f"(stale); {REGENERATE}"
        )
    if hashlib.sha256(module).hexdigest() != manifest.wasm_sha256:
        raise ConfigurationError(
            f"{where / MODULE_FILE} does not match the SHA-256 in {MANIFEST_FILE}; {REGENERATE}"
        )
    return module


# --- sprintf, as OPA's Go implementation formats ------------------------------------------


class SprintfError(Exception):
    """A sprintf call outside what the host implements exactly; the evaluation fails."""


GoType = Literal["string", "int64", "float64", "*big.Int"]


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number as written: OPA decides int or float by its text, not by its value."""

    text: str


@dataclass(frozen=True, slots=True)
class _Operand:
    """A sprintf argument as OPA hands it to Go's fmt: its Go type and value."""

    go_type: GoType
    value: str | int | float


def _refuse_constant(name: str) -> object:
    raise SprintfError(f"{name} is not a JSON number")


def _operand(value: object) -> _Operand:
    """The Go value OPA's builtinSprintf (topdown/strings.go, v1.22) makes of a term."""
    if isinstance(value, _Number):
        if any(c in value.text for c in ".eE"):
            f = float(value.text)
            # Go's ParseFloat fails on overflow, and OPA then passes the text itself.
            return _Operand("float64", f) if math.isfinite(f) else _Operand("string", value.text)
        n = int(value.text)
        return _Operand("int64" if -(2**63) <= n < 2**63 else "*big.Int", n)
    if isinstance(value, str):
        return _Operand("string", value)
    if value is None or isinstance(value, bool):  # OPA passes the term's text, a Go string
        return _Operand("string", json.dumps(value))
    # Arrays, objects and sets go to Go as their Rego syntax, which is not reproduced here.
    kind = "an array or set" if isinstance(value, list) else "an object"
    raise SprintfError(f"sprintf of {kind} is not supported by the Wasm engine")


def _go_float(f: float) -> str:
    """Go's %v of a float64: strconv 'g', shortest digits, exponent below 1e-04 and from 1e+06."""
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # digits[:point] is the integer part
    x = point - 1
    if x < -4 or x >= 6:
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text += f"e{'-' if x < 0 else '+'}{abs(x):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return "-" + text if sign else text


def _as_v(arg: _Operand) -> str:
    if arg.go_type == "float64":
        assert isinstance(arg.value, float)
        return _go_float(arg.value)
    return str(arg.value)


def _format(verb: str, arg: _Operand) -> str:
    if arg.go_type == "*big.Int" or (arg.go_type, verb) in {
        ("string", "s"),
        ("string", "v"),
        ("int64", "d"),
        ("int64", "v"),
        ("float64", "v"),
    }:
        return _as_v(arg)  # big.Int's Format writes %d, %s and %v in decimal alike
    return f"%!{verb}({arg.go_type}={_as_v(arg)})"  # Go's fmt, on a verb the type lacks


def sprintf(template: str, args_json: str) -> str:
    """OPA's `sprintf(template, args)`, `args_json` being the JSON text of the args array.

    Exact for the verbs %s, %d, %v and %% without flags, width or precision, over strings,
    numbers, booleans and null, including Go's `%!d(string=x)`, `%!s(MISSING)` and
    `%!(EXTRA ...)` forms; anything else raises `SprintfError` rather than guess.
    """
    values = json.loads(
        args_json, parse_int=_Number, parse_float=_Number, parse_constant=_refuse_constant
    )
    if not isinstance(values, list):
        raise SprintfError("sprintf takes an array of arguments")
    args = [_operand(v) for v in values]
    out: list[str] = []
    used = 0
    i = 0
    while (j := template.find("%", i)) >= 0:
        out.append(template[i:j])
        verb = template[j + 1 : j + 2]
        i = j + 2
        if verb == "%":
            out.append("%")
        elif verb and verb in "sdv":
            if used < len(args):
                out.append(_format(verb, args[used]))
                used += 1
            else:
                out.append(f"%!{verb}(MISSING)")
        else:
            raise SprintfError(f"sprintf format {template!r}: only %s, %d, %v and %% are supported")
    out.append(template[i:])
    if used < len(args):
        extra = ", ".join(f"{a.go_type}={_as_v(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --- one instance of the module ----------------------------------------------------------


class _I32Export:
    """Calls an export taking and returning only i32 (every export of OPA's ABI does).

    `wasmtime.Func.__call__` re-reads the function's type and converts each argument through
    it on every call: about half of a decision's time here (measured: ~70 of ~140 us). This
    calls the C API with the type checked once, through the same wasmtime-py internals
    `Func.__call__` uses (`_ffi.wasmtime_func_call`, `enter_wasm`, which re-raises a host
    function's exception); wasmtime is pinned exactly, and tests compare both paths.
    """

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, name: str) -> None:
        kind = func.type(store)
        i32 = wasmtime.ValType.i32()
        if any(t != i32 for t in [*kind.params, *kind.results]) or len(kind.results) > 1:
            raise ConfigurationError(f"the policy module's {name} is not an i32 function")
        self._store = store
        self._func = func
        self._arity = len(kind.params)
        self._returns = len(kind.results)

    def __call__(self, *args: int) -> int:
        if len(args) != self._arity:
            raise TypeError(f"{self._arity} arguments expected, not {len(args)}")
        params = (_ffi.wasmtime_val_t * self._arity)()
        for slot, value in zip(params, args, strict=True):
            slot.kind = _ffi.WASMTIME_I32.value
            slot.of.i32 = value
        results = (_ffi.wasmtime_val_t * 1)()
        with enter_wasm(self._store) as trap:
            error = _ffi.wasmtime_func_call(
                self._store._context(),
                ctypes.byref(self._func._func),
                params,
                self._arity,
                results,
                self._returns,
                trap,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
        return int(results[0].of.i32) if self._returns else 0


class _Instance:
    """The module instantiated in its own store, with the registry data in its heap.

    Not thread-safe; and unusable after any exception from `evaluate` (rebuild it).
    """

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module, data: bytes) -> None:
        self._store = wasmtime.Store(engine)
        self._store.set_epoch_deadline(1)
        self._memory = wasmtime.Memory(
            self._store, wasmtime.MemoryType(wasmtime.Limits(_INITIAL_PAGES, _MAX_PAGES))
        )
        self._builtin_names: dict[int, str] = {}
        imports: list[wasmtime.Func | wasmtime.Memory] = []
        for item in module.imports:
            if item.module == "env" and item.name == "memory":
                imports.append(self._memory)
            elif item.module == "env" and item.name == "opa_abort":
                imports.append(self._host(item, self._abort))
            elif item.module == "env" and re.fullmatch(r"opa_builtin[0-4]", item.name or ""):
                imports.append(self._host(item, self._builtin))
            else:
                raise ConfigurationError(
                    f"the policy module imports {item.module}.{item.name}, which OPA's Wasm "
                    f"ABI does not define; {REGENERATE}"
                )
        try:
            instance = wasmtime.Instance(self._store, module, imports)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise ConfigurationError(f"cannot instantiate the policy module: {e}") from e
        self._exports = instance.exports(self._store)
        self._check_abi()
        self._json_dump = self._func("opa_json_dump")
        self._json_parse = self._func("opa_json_parse")
        self._malloc = self._func("opa_malloc")
        self._eval = self._func("opa_eval")
        self._builtin_names = {
            number: name for name, number in self._dumped_object("builtins").items()
        }
        missing = set(self._builtin_names.values()) - _HOST_BUILTINS
        if missing:
            raise ConfigurationError(
                f"the policy uses builtins the Wasm engine does not provide: "
                f"{', '.join(sorted(missing))}; use the embedded or OPA engine"
            )
        entrypoints = self._dumped_object("entrypoints")
        if ENTRYPOINT not in entrypoints:
            raise ConfigurationError(f"the policy module has no entrypoint {ENTRYPOINT}")
        self._entrypoint = entrypoints[ENTRYPOINT]
        self._data = self._load_json(data)
        self._input_at = self._func("opa_heap_ptr_get")()

    def _host(self, item: wasmtime.ImportType, call: Callable[..., int | None]) -> wasmtime.Func:
        kind = item.type
        if not isinstance(kind, wasmtime.FuncType):
            raise ConfigurationError(f"the policy module imports {item.name} as a non-function")
        return wasmtime.Func(self._store, kind, call)

    def _func(self, name: str) -> _I32Export:
        found = self._exports.get(name)
        if not isinstance(found, wasmtime.Func):
            raise ConfigurationError(f"the policy module does not export the function {name}")
        return _I32Export(self._store, found, name)

    def _check_abi(self) -> None:
        version = []
        for name in ("opa_wasm_abi_version", "opa_wasm_abi_minor_version"):
            found = self._exports.get(name)
            if not isinstance(found, wasmtime.Global):
                raise ConfigurationError(f"the policy module does not export {name}")
            version.append(found.value(self._store))
        major, minor = version
        if major != _ABI_MAJOR or not isinstance(minor, int) or minor < _ABI_MIN_MINOR:
            raise ConfigurationError(
                f"the policy module has OPA Wasm ABI {major}.{minor}; this engine needs "
                f"{_ABI_MAJOR}.{_ABI_MIN_MINOR} or a later {_ABI_MAJOR}.x"
            )

    def _read_c_string(self, address: int) -> bytes:
        """The NUL-terminated bytes at `address`, read without leaving the memory."""
        size = self._memory.data_len(self._store)
        chunks: list[bytes] = []
        while address < size:
            chunk = self._memory.read(self._store, address, address + _READ_CHUNK)
            end = chunk.find(0)
            if end >= 0:
                chunks.append(bytes(chunk[:end]))
                return b"".join(chunks)
            chunks.append(bytes(chunk))
            address += len(chunk)
        raise PolicyEngineError("the policy module returned an unterminated string")

    def _dump(self, value: int) -> str:
        address = self._json_dump(value)
        if address == 0:
            raise PolicyEngineError("the policy module could not serialise a value")
        return self._read_c_string(address).decode("utf-8")

    def _dumped_object(self, export: str) -> dict[str, int]:
        found = json.loads(self._dump(self._func(export)()))
        if not isinstance(found, dict) or not all(isinstance(v, int) for v in found.values()):
            raise ConfigurationError(f"the policy module's {export} export is not a name table")
        return found

    def _load_json(self, text: bytes) -> int:
        """Parse JSON `text` into a value on the module's heap; its address."""
        address = self._malloc(len(text))
        self._memory.write(self._store, text, address)
        value = self._json_parse(address, len(text))
        if value == 0:
            raise PolicyEngineError("the policy module could not parse a JSON value")
        return value

    def _abort(self, message: int) -> None:
        text = self._read_c_string(message).decode("utf-8", "replace")
        raise PolicyEngineError(f"the policy aborted: {text}")

    def _builtin(self, number: int, _context: int, *args: int) -> int:
        name = self._builtin_names.get(number)
        if name != "sprintf" or len(args) != 2:
            raise PolicyEngineError(f"the policy called builtin {name or number}, not provided")
        template = json.loads(self._dump(args[0]))
        if not isinstance(template, str):
            raise SprintfError("the sprintf format must be a string")
        result = sprintf(template, self._dump(args[1]))
        return self._load_json(json.dumps(result, ensure_ascii=False).encode("utf-8"))

    def evaluate(self, input_text: bytes) -> list[object]:
        """The result set for the input JSON `input_text` (`[]`: undefined); raises on failure."""
        end = self._input_at + len(input_text)
        short = end - self._memory.data_len(self._store)
        if short > 0:
            self._memory.grow(self._store, -(-short // _WASM_PAGE))
        self._memory.write(self._store, input_text, self._input_at)
        self._store.set_epoch_deadline(1)
        answer = self._eval(
            0, self._entrypoint, self._data, self._input_at, len(input_text), end, 0
        )
        results = json.loads(self._read_c_string(answer))
        if not isinstance(results, list):
            raise PolicyEngineError("the policy module returned no result set")
        return results


# --- one revision ------------------------------------------------------------------------


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
        self._instance: _Instance | None = self._instantiate()

    def _instantiate(self) -> _Instance:
        try:
            return _Instance(self._engine, self._module, self._data)
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
