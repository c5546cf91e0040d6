"""The one interface both policy engines (Wasm, OPA server) offer, and how an engine's answer
becomes a Decision.

`decide` never raises for an engine failure: an error, a timeout, an undefined result or a
malformed document is a denial whose single reason starts "policy engine error:" (fail
closed). `evaluate` is the raw form the parity tests compare: the decision document as the
engine produced it, raising `PolicyEngineError` instead of denying.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from typing import Protocol

from gateway.errors import GerbangError
from gateway.policy.decision import Decision, MalformedDecision

__all__ = [
    "PolicyEngine",
    "PolicyEngineError",
    "decide_fail_closed",
    "decision_from_engine",
    "input_json",
]


class PolicyEngineError(GerbangError):
    """The engine could not produce a decision document (down, timed out, undefined, ...)."""


class PolicyEngine(Protocol):
    """Evaluates `data.gerbang.authz.decision` for an input document (docs/policy.md)."""

    @property
    def revision(self) -> str:
        """SHA-256 (hex) of the policy bundle in force."""
        ...

    async def decide(self, input_doc: Mapping[str, object]) -> Decision:
        """The decision for `input_doc`; a denial, never an exception, if the engine fails."""
        ...

    async def reload(self) -> str:
        """Load the bundle again and return its revision.

        Raises `ConfigurationError` if the new bundle is unusable; the previous revision
        then stays in force.
        """
        ...

    async def close(self) -> None:
        """Release the engine's resources."""
        ...


def decision_from_engine(document: object, revision: str) -> Decision:
    """The decision an engine's answer stands for; a denial if it is not a decision."""
    try:
        return Decision.from_document(document, revision=revision)
    except MalformedDecision as e:
        return Decision.engine_error(f"malformed decision document: {e}", revision=revision)


async def decide_fail_closed(evaluation: Awaitable[object], revision: str) -> Decision:
    """Await an engine's evaluation; any engine failure or malformed answer is a denial."""
    try:
        document = await evaluation
    except PolicyEngineError as e:
        return Decision.engine_error(str(e), revision=revision)
    return decision_from_engine(document, revision)


def input_json(input_doc: Mapping[str, object]) -> str:
    """The input as JSON text both engines can read alike, or `PolicyEngineError`.

    Non-ASCII stays as UTF-8 rather than \\u escapes (the bytes the engines have always been
    given: rego-cpp, the removed third engine, compared strings by their escaped form); NaN,
    infinities and lone surrogates are refused, as the engines do not read them alike.
    """
    try:
        text = json.dumps(input_doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError) as e:  # UnicodeEncodeError is a ValueError
        raise PolicyEngineError(f"the input is not a JSON document: {e}") from e
    return text
