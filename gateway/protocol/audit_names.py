"""What an audit leaf may name in clear of the texts a caller typed (pure; ADR 0013).

A leaf cannot be erased, so it holds no value the caller typed in clear. Filter values are
keyed commitments already (`entry.commit_value`). The purpose, legal basis, case reference
and dataset a request names are kept in clear only when they are registry constants: a
registered purpose, the registered legal basis of some purpose, a registered case reference,
a dataset the registry or the adapters know. Anything else (a mistyped purpose, free text in
the legal basis, an unregistered case number that may be a real one, a personal value put
where a name goes) enters the leaf only as a keyed commitment, `hmac-sha256:<hex>`, under
the log's commitment key: the log can later prove what was sent, without showing it.
A request that names only registry constants has a leaf byte-identical to before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from gateway.protocol.audit_entry import commit_value

__all__ = ["COMMITTED", "RegisteredNames", "committed_unless"]

# The prefix of a committed text in a leaf's purpose, legal_basis, case_reference or dataset.
COMMITTED: Final = "hmac-sha256:"


def committed_unless(key: bytes, slot: str, text: str, registered: Iterable[str]) -> str:
    """`text` in clear if it is empty or registered, else its keyed commitment (for `slot`)."""
    if not text or text in registered:
        return text
    return COMMITTED + commit_value(key, slot, text)


def _names(section: object) -> frozenset[str]:
    return frozenset(str(k) for k in section) if isinstance(section, Mapping) else frozenset()


@dataclass(frozen=True)
class RegisteredNames:
    """The registry constants a leaf may show in clear. Empty: everything is committed."""

    purposes: frozenset[str] = frozenset()
    legal_bases: frozenset[str] = frozenset()
    cases: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> RegisteredNames:
        """From the policies' data document (`data.registry`, as `load_bundle` reads it)."""
        registry = data.get("registry")
        if not isinstance(registry, Mapping):
            return cls()
        purposes = registry.get("purposes")
        bases = (
            frozenset(
                p["legal_basis"]
                for p in purposes.values()
                if isinstance(p, Mapping) and isinstance(p.get("legal_basis"), str)
            )
            if isinstance(purposes, Mapping)
            else frozenset()
        )
        return cls(
            purposes=_names(purposes),
            legal_bases=bases,
            cases=_names(registry.get("cases")),
            datasets=_names(registry.get("datasets")),
        )
