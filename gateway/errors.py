"""Every error Gerbang raises on purpose.

One base, `GerbangError`, and separate roots for separate kinds of failure, so
a caller can tell "someone sent us something bad" from "our own log is broken"
from "the network is down" without reading messages:

- `UntrustedInputError`: input from outside is malformed or does not verify
  (a request, a proof, a signature, a note). Map to INVALID_ARGUMENT /
  UNAUTHENTICATED; never to a retry.
- `PolicyDenied`: the policy decision point said no; carries its reasons.
- `AuditIntegrityError`: the audit log, or a proof about it, does not verify.
  This is evidence of tampering or corruption, never a routine failure.
- `AuditUnavailable`: the audit log could not be written or read (a full disk, a lost
  database connection, a failed commit). Nothing is released; retry later.
- `TransportError`: a peer could not be reached or answered out of protocol.
- `ConfigurationError`: the deployment is set up wrongly; fix it and restart.

Checks raise; nothing verifies by returning a bool that a caller may forget
to read (the pyca/cryptography convention). Messages say what is wrong and,
where it helps, what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AuditIntegrityError",
    "AuditUnavailable",
    "CheckpointFormatError",
    "ConfigurationError",
    "GerbangError",
    "NoteFormatError",
    "PolicyDenied",
    "ProofError",
    "ProofRequestError",
    "SignatureError",
    "TransportError",
    "UntrustedInputError",
]


class GerbangError(Exception):
    """Base of every error Gerbang raises on purpose."""


# --- untrusted input -------------------------------------------------------


class UntrustedInputError(GerbangError):
    """Input from outside is malformed or does not verify."""


class SignatureError(UntrustedInputError):
    """A signature is missing, from an unknown key, or does not verify."""


class NoteFormatError(UntrustedInputError):
    """A C2SP signed note, or a key string for one, is malformed."""


class CheckpointFormatError(NoteFormatError):
    """A C2SP tlog-checkpoint body is malformed."""


class ProofRequestError(UntrustedInputError):
    """A request for a proof names sizes or indexes the log cannot prove."""


# --- policy ----------------------------------------------------------------


class PolicyDenied(GerbangError):
    """The policy decision point denied the request.

    `reasons` are the human-readable reasons of the decision, in its order.
    """

    reasons: tuple[str, ...]

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons) or "denied by policy (no reason given)")


# --- audit integrity -------------------------------------------------------


class AuditIntegrityError(GerbangError):
    """The audit log, or a proof about it, does not verify.

    `index` names the first bad log entry when one can be named, else None.
    """

    index: int | None

    def __init__(self, message: str, *, index: int | None = None) -> None:
        self.index = index
        super().__init__(message)


class ProofError(AuditIntegrityError):
    """A Merkle inclusion or consistency proof does not verify."""


class AuditUnavailable(GerbangError):
    """The audit log could not be written or read: an I/O or commit failure, not tampering.

    Nothing that waited on the write is released.
    """


# --- transport and configuration -------------------------------------------


class TransportError(GerbangError):
    """A peer could not be reached, or answered outside the protocol."""


class ConfigurationError(GerbangError):
    """The deployment is configured wrongly; fix the configuration and restart."""
