"""The audit service: read-only log access for oversight identities, and witness cosignatures.

Every method first checks that the mTLS identity is an oversight identity. Sealed details
are handed out as stored: only the oversight body's key opens them.
Proofs are computed from the stored complete subtrees (O(log n) reads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final, TypeAlias

import grpc

from gateway.audit.store import AuditStore, StoredCheckpoint
from gateway.errors import (
    AuditIntegrityError,
    AuditUnavailable,
    GerbangError,
    UntrustedInputError,
)
from gateway.protocol.tls import peer_identity
from gateway.tlog.merkle import leaf_hash
from gateway.tlog.mldsa import WitnessVerifier
from gateway.tlog.note import parse_signature_line
from gerbang.v1 import audit_pb2, audit_pb2_grpc

MAX_ENTRIES_PER_CALL: Final = 1000
# Indexes and sizes are uint64 on the wire and BIGINT in the store: a log never holds
# 2^63 entries, and larger values would not bind to a database parameter.
MAX_INDEX: Final = 2**63 - 1
_Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


async def _refuse(context: _Context, e: GerbangError) -> None:
    """A proof the store could not give: the request's fault (INVALID_ARGUMENT), the store's
    evidence of corruption (DATA_LOSS), or an outage (UNAVAILABLE). Issue 12: corruption
    was reported as INVALID_ARGUMENT, as if the caller had asked wrongly."""
    if isinstance(e, AuditIntegrityError):
        await context.abort(grpc.StatusCode.DATA_LOSS, f"the audit store does not verify: {e}")
    if isinstance(e, AuditUnavailable):
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"the audit store is unavailable: {e}")
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))


class AuditService(audit_pb2_grpc.AuditServiceServicer):
    def __init__(
        self,
        store: AuditStore,
        readers: frozenset[str],
        witnesses: Iterable[WitnessVerifier],
    ) -> None:
        self.store = store
        self.readers = readers
        # A witness by its name and key ID: Ed25519 (cosignature/v1) and ML-DSA-44 (subtree/v1)
        # keys of one witness are both accepted; its lines are kept together.
        self.witnesses = {(w.name, w.key_id): w for w in witnesses}

    async def _authorise(self, context: _Context) -> str:
        peer = peer_identity(context.auth_context())
        if peer is None or peer not in self.readers:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"{peer} is not an oversight identity"
            )
        assert peer is not None
        return peer

    @staticmethod
    async def _check_indexes(context: _Context, **values: int) -> None:
        """Refuse, as INVALID_ARGUMENT, an index or size no log can have."""
        for name, value in values.items():
            if value > MAX_INDEX:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"{name} {value} is beyond any log's size"
                )

    async def GetEntries(
        self, request: audit_pb2.GetEntriesRequest, context: _Context
    ) -> audit_pb2.GetEntriesResponse:
        await self._authorise(context)
        await self._check_indexes(context, start=request.start, end=request.end)
        if request.end <= request.start:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "end must be greater than start")
        end = min(request.end, request.start + MAX_ENTRIES_PER_CALL)
        entries = await asyncio.to_thread(self.store.entries, request.start, end)
        return audit_pb2.GetEntriesResponse(
            entries=[
                audit_pb2.AuditEntry(
                    index=e.index, leaf=e.leaf, entry_hash=e.entry_hash, leaf_hash=leaf_hash(e.leaf)
                )
                for e in entries
            ]
        )

    async def GetLatestCheckpoint(
        self, request: audit_pb2.GetLatestCheckpointRequest, context: _Context
    ) -> audit_pb2.GetLatestCheckpointResponse:
        await self._authorise(context)
        head = await asyncio.to_thread(self.store.head)
        cp = await asyncio.to_thread(self.store.checkpoint)
        answer = audit_pb2.GetLatestCheckpointResponse(size=head.size, head_hash=head.head_hash)
        if cp is not None:
            answer.note = cp.cosigned_note()
            answer.checkpoint_size = cp.size
            answer.root_hash = cp.root_hash
        return answer

    async def _tree_size(self, requested: int, context: _Context) -> tuple[int, bytes]:
        """The size to prove against and its signed note (empty if none)."""
        cp = await asyncio.to_thread(self.store.checkpoint, requested or None)
        if cp is not None:
            return cp.size, cp.cosigned_note()
        if requested == 0:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no checkpoint signed yet")
        return requested, b""

    async def GetInclusionProof(
        self, request: audit_pb2.GetInclusionProofRequest, context: _Context
    ) -> audit_pb2.GetInclusionProofResponse:
        await self._authorise(context)
        await self._check_indexes(context, leaf_index=request.index, tree_size=request.tree_size)
        size, note = await self._tree_size(request.tree_size, context)
        try:
            if request.WhichOneof("leaf") == "leaf_hash":
                index = await asyncio.to_thread(self.store.index_of, request.leaf_hash)
            else:
                index = request.index
            lh, proof, root = await asyncio.to_thread(self.store.inclusion_proof, index, size)
        except GerbangError as e:
            await _refuse(context, e)
            raise
        return audit_pb2.GetInclusionProofResponse(
            leaf_index=index,
            tree_size=size,
            leaf_hash=lh,
            proof=proof,
            root_hash=root,
            checkpoint=note,
        )

    async def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: _Context
    ) -> audit_pb2.GetConsistencyProofResponse:
        await self._authorise(context)
        await self._check_indexes(context, from_size=request.from_size, to_size=request.to_size)
        size, note = await self._tree_size(request.to_size, context)
        try:
            proof, r1, r2 = await asyncio.to_thread(
                self.store.consistency_proof, request.from_size, size
            )
        except GerbangError as e:
            await _refuse(context, e)
            raise
        return audit_pb2.GetConsistencyProofResponse(
            from_size=request.from_size,
            to_size=size,
            proof=proof,
            from_root=r1,
            to_root=r2,
            checkpoint=note,
        )

    async def AddCosignature(
        self, request: audit_pb2.AddCosignatureRequest, context: _Context
    ) -> audit_pb2.AddCosignatureResponse:
        await self._authorise(context)
        await self._check_indexes(context, size=request.size)
        try:
            line = parse_signature_line(request.signature_line)
            witness = self.witnesses.get((line.name, line.key_id))
            if witness is None:
                raise UntrustedInputError(
                    f"{line.name!r} (key {line.key_id.hex()}) is not a registered witness key"
                )
            cp = await asyncio.to_thread(self.store.checkpoint, request.size)
            if cp is None:
                raise UntrustedInputError(f"no checkpoint of size {request.size}")
            text = cp.note.decode().split("\n\n", 1)[0] + "\n"
            witness.check(text.encode("utf-8"), line.signature)
        except GerbangError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cosignature refused: {e}")
            raise
        await asyncio.to_thread(self._keep, cp, line.name, line.key_id, request.signature_line)
        return audit_pb2.AddCosignatureResponse()

    def _keep(self, cp: StoredCheckpoint, name: str, key: bytes, signature_line: str) -> None:
        """Store the line with the witness's lines by its other keys (one row per witness)."""
        new = signature_line if signature_line.endswith("\n") else signature_line + "\n"
        kept = []
        for row in cp.cosignatures:
            for raw in row.splitlines(keepends=True):
                sig = parse_signature_line(raw)
                if sig.name == name and sig.key_id != key:
                    kept.append(raw)
        self.store.add_cosignature(cp.size, name, "".join([*kept, new]))

    async def GetSealedDetails(
        self, request: audit_pb2.GetSealedDetailsRequest, context: _Context
    ) -> audit_pb2.GetSealedDetailsResponse:
        """The stored blob only: opening it needs the oversight body's key, which the gateway
        never holds, and the reader checks it against the digest in the leaf."""
        await self._authorise(context)
        await self._check_indexes(context, index=request.index)
        blob = await asyncio.to_thread(self.store.details, request.index)
        if blob is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"entry {request.index} has no sealed details, or they were erased (retention)",
            )
        assert blob is not None
        return audit_pb2.GetSealedDetailsResponse(index=request.index, blob=blob)
