"""C2SP tlog-policy: known logs, known witnesses, groups and the quorum a checkpoint must meet.

Internal module: its API may change without notice. Pure functions, no I/O.

Policy file (https://c2sp.org/tlog-policy, §Policy file syntax and structure):

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

Lines are split on spaces and tabs; blank lines and `#` comment lines are
ignored; a group or the quorum may only name witnesses and groups defined on
earlier lines; names share one namespace; a member appears at most once in a
group; 1 <= k <= n; exactly one quorum line; no two logs or witnesses with
the same public key. Witness keys are cosignature keys (0x04; the Ed25519
note form 0x01 of the same key is accepted too).

Checking a checkpoint (`WitnessPolicy.check`), steps:
1. open the note with every log and witness key of the policy: any signature
   line by a known key that fails to verify rejects the note;
2. a log of the policy signed it, under a key named as the checkpoint's origin;
3. the witnesses whose cosignatures verified witness it; each group witnesses
   it when at least k of its members do;
4. the quorum must witness it, else `QuorumNotMet`, naming who cosigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.errors import NoteFormatError, SignatureError, UntrustedInputError
from gateway.tlog.checkpoint import Checkpoint
from gateway.tlog.mldsa import WitnessVerifier, parse_witness_key
from gateway.tlog.note import (
    Ed25519NoteVerifier,
    NoteVerifier,
    open_note,
    parse_verifier_key,
    raw_public_key,
)

__all__ = ["NONE", "QuorumNotMet", "WitnessPolicy", "WitnessedCheckpoint"]

NONE: Final = "none"
_KEYWORDS: Final = frozenset({"log", "witness", "group", "quorum", "all", "any", NONE})


class PolicyFormatError(UntrustedInputError):
    """A tlog-policy file is malformed."""


class QuorumNotMet(UntrustedInputError):
    """The checkpoint's cosignatures do not satisfy the policy's quorum."""


@dataclass(frozen=True)
class Group:
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint signed by a policy log and witnessed by the quorum."""

    checkpoint: Checkpoint
    log: str
    cosigners: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    logs: tuple[Ed25519NoteVerifier, ...]
    witnesses: Mapping[str, WitnessVerifier]
    groups: Mapping[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    @classmethod
    def parse(cls, text: str) -> WitnessPolicy:
        for i, c in enumerate(text):
            if (ord(c) < 0x20 and c not in "\t\n") or c == "\x7f":
                raise PolicyFormatError(f"policy has control character {c!r} at offset {i}")
        logs: list[Ed25519NoteVerifier] = []
        witnesses: dict[str, WitnessVerifier] = {}
        groups: dict[str, Group] = {}
        quorum: str | None = None
        keys: set[bytes] = set()
        for number, line in enumerate(text.split("\n"), 1):
            fields = line.replace("\t", " ").split()
            if not fields or fields[0].startswith("#"):
                continue
            where = f"policy line {number}"
            kind, args = fields[0], fields[1:]
            try:
                if kind == "log" and len(args) in (1, 2):
                    log = parse_verifier_key(args[0])
                    _unique_key(keys, raw_public_key(log.public_key), where)
                    logs.append(log)
                elif kind == "witness" and len(args) in (2, 3):
                    name = _new_name(args[0], witnesses, groups, where)
                    witness = parse_witness_key(args[1])
                    _unique_key(keys, witness.raw_public_key, where)
                    witnesses[name] = witness
                elif kind == "group" and len(args) >= 3:
                    name = _new_name(args[0], witnesses, groups, where)
                    groups[name] = _group(args[1], args[2:], witnesses, groups, where)
                elif kind == "quorum" and len(args) == 1:
                    if quorum is not None:
                        raise PolicyFormatError(f"{where}: a second quorum line")
                    if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                        raise PolicyFormatError(f"{where}: quorum {args[0]!r} is not defined above")
                    quorum = args[0]
                else:
                    raise PolicyFormatError(f"{where}: {kind!r} line is not a policy line")
            except NoteFormatError as e:
                if isinstance(e, PolicyFormatError):
                    raise
                raise PolicyFormatError(f"{where}: {e}") from e
        if quorum is None:
            raise PolicyFormatError("the policy has no quorum line (use 'quorum none' explicitly)")
        return cls(tuple(logs), witnesses, groups, quorum)

    def check(
        self, note: bytes, extra_logs: Sequence[Ed25519NoteVerifier] = ()
    ) -> WitnessedCheckpoint:
        """Steps 1 to 4 above; `extra_logs` are log keys trusted besides the policy's."""
        logs = [
            *self.logs,
            *(k for k in extra_logs if k.key_id not in {x.key_id for x in self.logs}),
        ]
        if not logs:
            raise SignatureError("no log key: the policy lists no log, and none was given")
        verifiers: list[NoteVerifier] = [*logs, *self.witnesses.values()]
        verified = open_note(note, verifiers)  # 1.
        checkpoint = Checkpoint.parse(verified.text)
        signed = {(s.name, s.key_id) for s in verified.signatures}
        signer = next((k for k in logs if (k.name, k.key_id) in signed), None)  # 2.
        if signer is None or signer.name != checkpoint.origin:
            raise SignatureError(
                f"checkpoint of {checkpoint.origin!r} is not signed by a log of the policy "
                "under that origin"
            )
        cosigners = tuple(
            name for name, w in self.witnesses.items() if (w.name, w.key_id) in signed
        )  # 3.
        if not self._witnessed(self.quorum, frozenset(cosigners)):  # 4.
            raise QuorumNotMet(
                f"the checkpoint of size {checkpoint.size} does not meet the witness quorum "
                f"{self.quorum!r}: cosigned by {', '.join(cosigners) or 'no known witness'}"
            )
        return WitnessedCheckpoint(checkpoint, signer.name, cosigners)

    def _witnessed(self, name: str, cosigners: frozenset[str]) -> bool:
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in cosigners
        group = self.groups[name]
        return sum(self._witnessed(m, cosigners) for m in group.members) >= group.threshold


def _new_name(
    name: str, witnesses: Mapping[str, object], groups: Mapping[str, object], where: str
) -> str:
    if name in _KEYWORDS:
        raise PolicyFormatError(f"{where}: {name!r} is a keyword, not a name")
    if name in witnesses or name in groups:
        raise PolicyFormatError(f"{where}: {name!r} is defined twice")
    return name


def _unique_key(keys: set[bytes], key: bytes, where: str) -> None:
    if key in keys:
        raise PolicyFormatError(f"{where}: this public key is already in the policy")
    keys.add(key)


def _group(
    threshold: str,
    members: Iterable[str],
    witnesses: Mapping[str, object],
    groups: Mapping[str, object],
    where: str,
) -> Group:
    names = tuple(members)
    if len(set(names)) != len(names):
        raise PolicyFormatError(f"{where}: a group lists a member twice")
    for m in names:
        if m not in witnesses and m not in groups:
            raise PolicyFormatError(f"{where}: {m!r} is not a witness or group defined above")
    if threshold == "all":
        k = len(names)
    elif threshold == "any":
        k = 1
    elif threshold.isdigit() and threshold.isascii() and not threshold.startswith("0"):
        k = int(threshold)
    else:
        raise PolicyFormatError(f"{where}: threshold {threshold!r} is not all, any or a number")
    if not 1 <= k <= len(names):
        raise PolicyFormatError(f"{where}: threshold {k} is outside 1..{len(names)}")
    return Group(k, names)
