"""Fan out: signed plans to the adapters over mTLS, attested answers back, all or nothing.

The gateway cannot open a result (it is sealed to the caller), but it refuses to forward,
and records, an answer its adapter did not attest to this plan. One adapter failing fails
the request: a partial federated answer would mislead the caller.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import grpc

from gateway.errors import GerbangError
from gateway.protocol import model
from gateway.protocol.audit_entry import ResultDigest
from gateway.protocol.evidence import SignedBlob, check_result, sha256, sign_blob
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import RegistryFile, Signer
from gateway.service.recording import Outcome
from gateway.service.refusals import AdapterFailed, AdapterRefused
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc, query_pb2

ADAPTER_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class AdapterLink:
    adapter_id: str
    address: str
    stub: adapter_pb2_grpc.AdapterServiceAsyncStub
    channel: grpc.aio.Channel


class FanOut:
    """Sends each plan, signed, to its adapter and checks each attested answer."""

    def __init__(
        self,
        adapters: Mapping[str, AdapterLink],
        keys: RegistryFile,
        plan_signer: Signer,
        timeout: float = ADAPTER_TIMEOUT,
    ) -> None:
        self.adapters = adapters
        self.keys = keys
        self.plan_signer = plan_signer
        self.timeout = timeout

    async def __call__(
        self, plans: Sequence[model.QueryPlan], outcome: Outcome
    ) -> list[query_pb2.AdapterResult]:
        registry = self.keys.get()
        signed = [sign_blob(p.to_proto().SerializeToString(), self.plan_signer) for p in plans]

        async def one(plan: model.QueryPlan, blob: SignedBlob) -> adapter_pb2.ExecuteResponse:
            link = self.adapters[plan.adapter_id]
            req = adapter_pb2.ExecuteRequest(
                plan=blob.data, key_id=blob.key_id, signature=blob.signature
            )
            response: adapter_pb2.ExecuteResponse = await link.stub.Execute(
                req, timeout=self.timeout
            )
            check_result(
                plan=blob,
                attested=SignedBlob(response.attestation, response.key_id, response.signature),
                ciphertext_sha256=sha256(response.payload),
                registry=registry,
                gateway_id=GATEWAY_ID,
                request_hash=outcome.request_hash,
                caller=outcome.caller,
                hpke_public_key=None,
                now=dt.datetime.now(dt.UTC),
            )
            return response

        answers = await asyncio.gather(
            *(one(p, b) for p, b in zip(plans, signed, strict=True)), return_exceptions=True
        )
        failures = [
            (p.adapter_id, a)
            for p, a in zip(plans, answers, strict=True)
            if isinstance(a, BaseException)
        ]
        if failures:
            raise _failure(failures)
        ok = [a for a in answers if isinstance(a, adapter_pb2.ExecuteResponse)]
        outcome.results = tuple(
            ResultDigest(a.adapter_id, sha256(a.payload).hex(), int(a.row_count)) for a in ok
        )
        return [
            query_pb2.AdapterResult(
                adapter_id=a.adapter_id,
                payload=a.payload,
                payload_sha256=sha256(a.payload),
                row_count=a.row_count,
                plan=query_pb2.SignedBlob(data=b.data, key_id=b.key_id, signature=b.signature),
                attestation=query_pb2.SignedBlob(
                    data=a.attestation, key_id=a.key_id, signature=a.signature
                ),
            )
            for a, b in zip(ok, signed, strict=True)
        ]


def _failure(failures: Sequence[tuple[str, BaseException]]) -> AdapterFailed | AdapterRefused:
    reasons = []
    for adapter_id, err in failures:
        if isinstance(err, grpc.aio.AioRpcError):
            detail = err.details() or err.code().name
        elif isinstance(err, GerbangError):
            detail = str(err)
        else:
            detail = type(err).__name__
        reasons.append(f"adapter {adapter_id} failed: {detail}")
    if any(
        isinstance(e, grpc.aio.AioRpcError) and e.code() == grpc.StatusCode.PERMISSION_DENIED
        for _, e in failures
    ):
        # An adapter's own minimisation check refused the plan (e.g. a category that
        # would isolate fewer than k incidents): a denial, not an outage.
        return AdapterRefused("; ".join(reasons), reasons=reasons)
    return AdapterFailed("; ".join(reasons), reasons=reasons)
