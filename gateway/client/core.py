"""The caller's client library: one call signs, sends, verifies, opens and merges.

    async with GerbangClient.connect("127.0.0.1:7443", pki_dir, "dishub-atcs") as client:
        result = await client.query(Query(...))
        result.rows, result.receipt
        bundle = await client.evidence(result)   # with the audit inclusion proof

It speaks mTLS with the caller's certificate and signs each request with the
caller's registered Ed25519 key (a fresh nonce, the time, and the X25519 key
results must be sealed to). For every adapter's part it checks the gateway's
plan signature and the plan's binding to this request, the adapter's signed
attestation of the sealed result, and only then opens the HPKE ciphertext.
Record-level rows are concatenated, group counts summed, and a request under a case
reference is accepted only if every plan carried the binding to that case
(`gateway.client.results`). A refusal raises a typed exception (`gateway.client.refusals`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.client.refusals import PartRefused, QueryRefused, refusal, refused
from gateway.client.results import (
    Privacy,
    QueryResult,
    Receipt,
    check_case_binding,
    check_mechanism,
    merge,
)
from gateway.errors import UntrustedInputError
from gateway.protocol.attestation import check_result
from gateway.protocol.capabilities import Capabilities
from gateway.protocol.encoding import b64, sha256
from gateway.protocol.evidence import BUNDLE_VERSION
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import Keystore, RegistryFile, Signer
from gateway.protocol.model import Query, QueryPlan
from gateway.protocol.sealing import open_result
from gateway.protocol.signed_plan import SignedBlob
from gateway.protocol.signed_request import NONCE_BYTES, sign_request
from gateway.protocol.tls import TlsFiles, peer_certificate_identity
from gerbang.v1 import common_pb2, query_pb2, query_pb2_grpc

__all__ = ["CallerKeys", "GerbangClient"]


@dataclass(frozen=True)
class CallerKeys:
    """The caller's signing key, its HPKE private keys, and the federation's registry."""

    identity: str
    signer: Signer
    hpke: Mapping[bytes, X25519PrivateKey]  # public bytes -> private key (all in overlap)
    current_hpke: bytes
    registry: RegistryFile

    @classmethod
    def load(cls, keys_dir: Path, slug: str, identity: str) -> CallerKeys:
        registry = RegistryFile(keys_dir / "registry.json")
        now = dt.datetime.now(dt.UTC)
        keystore = Keystore(keys_dir / slug)
        hpke_keys = {
            k.public: keystore.hpke_key(k.key_id)
            for k in registry.get().keys
            if k.owner == identity and k.kind == "hpke" and k.problem_at(now) is None
        }
        current = registry.get().current(identity, "hpke", now)
        return cls(
            identity, Signer.current(keys_dir, slug, identity), hpke_keys, current.public, registry
        )


class GerbangClient:
    def __init__(self, channel: grpc.aio.Channel, keys: CallerKeys) -> None:
        self._channel = channel
        self._stub = query_pb2_grpc.QueryServiceStub(channel)
        self.keys = keys

    @classmethod
    def connect(
        cls, address: str, pki_dir: Path, identity: str, keys_dir: Path | None = None
    ) -> GerbangClient:
        """`identity` names the caller's certificate and keystore (e.g. "dishub-atcs")."""
        tls = TlsFiles.load(pki_dir, identity)
        spiffe = peer_certificate_identity(tls.cert)
        keys = CallerKeys.load(keys_dir or pki_dir.parent / "keys", identity, spiffe)
        return cls(grpc.aio.secure_channel(address, tls.channel_credentials()), keys)

    @property
    def channel(self) -> grpc.aio.Channel:
        return self._channel

    async def __aenter__(self) -> GerbangClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def query_raw(
        self, request: query_pb2.QueryRequest, timeout: float = 60.0
    ) -> query_pb2.QueryResponse:
        try:
            response: query_pb2.QueryResponse = await self._stub.Query(request, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            raise refusal(e) from e
        return response

    def sign(
        self,
        query: Query,
        now: dt.datetime | None = None,
        nonce: bytes | None = None,
        *,
        user: bytes | None = None,
    ) -> tuple[query_pb2.RequestAuth, bytes]:
        """This caller's signature over `query`, as the request's auth, and the canonical
        bytes it signed. `user` is the end user's 32-byte commitment
        (`gateway.protocol.signed_request.user_commitment`), or None when no user is named."""
        auth, canonical = sign_request(
            self.keys.identity,
            query,
            self.keys.signer,
            self.keys.current_hpke,
            now or dt.datetime.now(dt.UTC),
            nonce or os.urandom(NONCE_BYTES),
            user or b"",
        )
        out = query_pb2.RequestAuth(
            nonce=auth.nonce,
            hpke_public_key=auth.hpke_public_key,
            key_id=auth.key_id,
            signature=auth.signature,
            user_commitment=auth.user_commitment,
        )
        out.issued_at.FromDatetime(auth.issued_at)
        return out, canonical

    def signed_request(
        self,
        query: Query,
        now: dt.datetime | None = None,
        nonce: bytes | None = None,
        *,
        user: bytes | None = None,
    ) -> tuple[query_pb2.QueryRequest, bytes, bytes]:
        """The request proto signed by this caller, its canonical bytes and its signature."""
        auth, canonical = self.sign(query, now, nonce, user=user)
        request = query.to_proto()
        request.auth.CopyFrom(auth)
        return request, canonical, auth.signature

    async def query(
        self, query: Query, timeout: float = 60.0, *, user: bytes | None = None
    ) -> QueryResult:
        """Sign, send, verify, open and merge. `user`: the end user's commitment."""
        request, canonical, signature = self.signed_request(query, user=user)
        response = await self.query_raw(request, timeout)
        result = self.open_response(response, canonical, signature)
        check_case_binding(query, result.plans)
        return result

    async def capabilities(self, timeout: float = 30.0) -> Capabilities:
        """What this caller may ask, read from the policy in force (and audited)."""
        try:
            response: query_pb2.CapabilitiesResponse = await self._stub.Capabilities(
                query_pb2.CapabilitiesRequest(), timeout=timeout
            )
        except grpc.aio.AioRpcError as e:
            raise refusal(e) from e
        return Capabilities.from_proto(response)

    def open_response(
        self, response: query_pb2.QueryResponse, canonical: bytes, signature: bytes
    ) -> QueryResult:
        """Verify every part of `response` against the request, then open and merge."""
        if not response.results:
            # An allowed answer always carries one signed part per adapter, even with no
            # rows: an answer with none proves nothing and is not "no data".
            raise UntrustedInputError(
                "the gateway allowed the request but sent no adapter results; refusing it"
            )
        request_hash = sha256(canonical)
        registry = self.keys.registry.get()
        now = dt.datetime.now(dt.UTC)
        parts = []
        plans = []
        evidence_parts = []
        for r in response.results:
            plan = SignedBlob(r.plan.data, r.plan.key_id, r.plan.signature)
            attested = SignedBlob(r.attestation.data, r.attestation.key_id, r.attestation.signature)
            try:
                checked = check_result(
                    plan=plan,
                    attested=attested,
                    ciphertext_sha256=sha256(r.payload),
                    registry=registry,
                    gateway_id=GATEWAY_ID,
                    request_hash=request_hash,
                    caller=self.keys.identity,
                    hpke_public_key=None,
                    now=now,
                )
                key = self.keys.hpke.get(bytes(checked.plan.caller_hpke_public_key))
                if key is None:
                    raise UntrustedInputError(
                        f"result of {checked.adapter_id} is sealed to a key this caller does not "
                        "hold"
                    )
                clear = open_result(r.payload, key, checked.plan_hash)
            except UntrustedInputError as e:
                raise PartRefused(r.adapter_id, str(e)) from e
            plans.append(QueryPlan.from_proto(checked.plan))
            parts.append(common_pb2.ResultSet.FromString(clear))
            evidence_parts.append(
                {
                    "plan": plan.to_json(),
                    "attestation": attested.to_json(),
                    "ciphertext_sha256": b64(checked.ciphertext_sha256),
                }
            )
        check_mechanism(plans, response)
        columns, rows, suppressed = merge(parts)
        return QueryResult(
            rows=rows,
            columns=columns,
            receipt=Receipt(
                response.receipt.leaf_index, response.receipt.entry_hash, response.receipt.leaf_hash
            ),
            request_id=response.request_id,
            granted_fields=tuple(response.granted_fields),
            policy_revision=response.policy_revision,
            adapters=tuple(r.adapter_id for r in response.results),
            suppressed_groups=suppressed,
            evidence={
                "v": BUNDLE_VERSION,
                "request": SignedBlob(canonical, self.keys.signer.key_id, signature).to_json(),
                "results": evidence_parts,
            },
            privacy_budget_remaining=response.privacy_budget_remaining
            if response.privacy_budget_period
            else None,
            privacy_budget_period=response.privacy_budget_period,
            plans=tuple(plans),
            privacy=Privacy.from_proto(response.privacy) if response.HasField("privacy") else None,
        )

    async def evidence(
        self, result: QueryResult, wait: float = 10.0, cosignatures: int = 0
    ) -> dict[str, Any]:
        """The full evidence bundle: `result.evidence` plus the audit entry and its
        inclusion proof against a signed checkpoint (waits for the next checkpoint, and
        for one carrying at least `cosignatures` witness cosignatures)."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                proof = await self._stub.ProveReceipt(
                    query_pb2.ProveReceiptRequest(leaf_index=result.receipt.leaf_index), timeout=5
                )
                # The log's signature line plus one line per cosignature (C2SP signed-note).
                if proof.checkpoint.count("\n\u2014 ".encode()) - 1 >= cosignatures:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise QueryRefused(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no checkpoint with {cosignatures} cosignatures within {wait} s",
                    )
                await asyncio.sleep(0.25)
                continue
            except grpc.aio.AioRpcError as e:
                if (
                    e.code() != grpc.StatusCode.UNAVAILABLE
                    or asyncio.get_running_loop().time() > deadline
                ):
                    raise refused(e) from e
                await asyncio.sleep(0.25)
        return {
            **result.evidence,
            "audit": {
                "leaf": b64(proof.leaf),
                "leaf_index": result.receipt.leaf_index,
                "tree_size": proof.tree_size,
                "proof": [b64(h) for h in proof.proof],
                "checkpoint": proof.checkpoint.decode(),
            },
        }
