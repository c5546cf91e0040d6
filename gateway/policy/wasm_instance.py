"""One instance of the compiled policy module, evaluated through OPA's Wasm ABI (1.2 and later).

The registry data is parsed into the instance's heap once; for each decision the input JSON
is written just past it and `opa_eval` runs the entrypoint, first resetting the heap to the
end of the input, so nothing accumulates between decisions (OPA docs, "WebAssembly").
Builtins the module leaves to the host are named by its `builtins` export; this policy needs
only `sprintf` (`gateway.policy.sprintf`). A module needing any other host builtin is refused
when loaded, not when it first decides.
"""

from __future__ import annotations

import ctypes
import json
import re
from collections.abc import Callable
from typing import Final

import wasmtime
from wasmtime import _ffi
from wasmtime._func import enter_wasm

from gateway.errors import ConfigurationError
from gateway.policy.bundle import ENTRYPOINT
from gateway.policy.compiled import REGENERATE
from gateway.policy.engine import PolicyEngineError
from gateway.policy.sprintf import SprintfError, sprintf

__all__ = ["WasmInstance"]

_ABI_MAJOR: Final = 1
_ABI_MIN_MINOR: Final = 2  # opa_eval, the one-call evaluation, arrived in ABI 1.2
_WASM_PAGE: Final = 65536
_INITIAL_PAGES: Final = 16
_MAX_PAGES: Final = 2048  # 128 MiB: a decision needing more is refused (fail closed)
_READ_CHUNK: Final = 4096
_HOST_BUILTINS: Final = frozenset({"sprintf"})


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


class WasmInstance:
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
