"""The embedded policy engine: rego-cpp (regopy) inside the gateway process.

The bundle is compiled once, with `data.gerbang.authz.decision` as its only entrypoint;
each decision sets the input (as JSON text, `set_input_term`) and runs that entrypoint. A
regopy interpreter is not thread-safe, so evaluations run one at a time on the engine's own
worker thread (which also keeps the event loop free while rego-cpp works) under a lock.

A reload compiles a new interpreter beside the one in force and swaps it in only once it
built; any failure leaves the previous revision deciding.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import regopy

from gateway.errors import ConfigurationError
from gateway.policy.bundle import ENTRYPOINT, PolicyBundle, load_bundle
from gateway.policy.decision import Decision
from gateway.policy.engine import PolicyEngineError, decide_fail_closed, input_json

__all__ = ["EmbeddedEngine"]

DEFAULT_TIMEOUT: Final = 0.5
_ERROR_LINES: Final = 12


def _first_lines(text: str) -> str:
    return "\n".join(text.strip().splitlines()[:_ERROR_LINES])


class _Compiled:
    """One bundle compiled into one interpreter."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self.revision = bundle.revision
        self._lock = threading.Lock()
        self._interpreter = regopy.Interpreter()
        try:
            self._interpreter.add_data_json(json.dumps(bundle.data, ensure_ascii=False))
            for module in bundle.policy_modules:
                self._interpreter.add_module(module.path, module.source)
            self._plan = self._interpreter.build(None, [ENTRYPOINT])
        except regopy.RegoError as e:
            raise ConfigurationError(
                f"rego-cpp cannot compile the policies: {_first_lines(str(e))}"
            ) from e
        if not self._plan.ok():
            raise ConfigurationError("rego-cpp could not build the policy bundle")

    def evaluate(self, term: str) -> object:
        with self._lock:
            try:
                self._interpreter.set_input_term(term)
                output = self._interpreter.query_bundle_entrypoint(self._plan, ENTRYPOINT)
            except Exception as e:  # regopy raises RegoError, and ValueError on bad output
                raise PolicyEngineError(f"rego-cpp failed: {_first_lines(str(e))}") from e
            if not output.ok():
                raise PolicyEngineError(f"rego-cpp failed: {_first_lines(str(output))}")
            results = output.results
        if not results or not results[0].expressions:
            raise PolicyEngineError("the decision is undefined")
        return results[0].expressions[0]


class EmbeddedEngine:
    """`PolicyEngine` evaluating the bundle in-process with rego-cpp."""

    def __init__(self, policies_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Load, validate and compile `policies_dir`; raise `ConfigurationError` if unusable."""
        self._dir = policies_dir
        self._timeout = timeout
        self._compiled = _Compiled(load_bundle(policies_dir))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rego-cpp")

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
        term = input_json(input_doc)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                return await loop.run_in_executor(self._executor, compiled.evaluate, term)
        except TimeoutError as e:
            raise PolicyEngineError(f"no decision within {self._timeout:g} s") from e
        except RuntimeError as e:  # the executor was shut down: the engine is closed
            raise PolicyEngineError(f"the engine is closed: {e}") from e

    async def reload(self) -> str:
        compiled = await asyncio.to_thread(lambda: _Compiled(load_bundle(self._dir)))
        self._compiled = compiled
        return compiled.revision

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
