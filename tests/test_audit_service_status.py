"""AuditService statuses: corruption of the store is DATA_LOSS, not INVALID_ARGUMENT (issue 12).

The real AuditService over mTLS in this process, on a real SQLite store whose stored Merkle
nodes are then altered behind its back, as an attacker with database access would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import delete

from gateway.audit.service import AuditService
from gateway.audit.store import AuditStore, tree_table
from gateway.protocol.audit_entry import AuditRecord
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import audit_pb2, audit_pb2_grpc
from tools.federation import free_port


def record(i: int) -> AuditRecord:
    return AuditRecord(
        time=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
        kind="query",
        request_id=f"r{i}",
        caller=EXAMPLE_CALLERS["dishub-atcs"],
        decision="allow",
        status="OK",
    )


@pytest.fixture
async def service(
    tmp_path: Path,
) -> AsyncIterator[tuple[audit_pb2_grpc.AuditServiceAsyncStub, AuditStore]]:
    init_pki(tmp_path / "pki", adapters=("s1",))
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    store.append([record(i) for i in range(8)])
    server = grpc.aio.server()
    audit_pb2_grpc.add_AuditServiceServicer_to_server(
        AuditService(store, frozenset({EXAMPLE_CALLERS["kompolnas-oversight"]}), {}), server
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_secure_port(address, TlsFiles.load(tmp_path / "pki", "gateway").server_credentials())
    await server.start()
    creds = TlsFiles.load(tmp_path / "pki", "kompolnas-oversight").channel_credentials()
    async with grpc.aio.secure_channel(address, creds) as channel:
        stub: audit_pb2_grpc.AuditServiceAsyncStub = audit_pb2_grpc.AuditServiceStub(channel)
        yield stub, store
    await server.stop(None)
    store.close()


async def test_a_proof_from_altered_nodes_is_data_loss(
    service: tuple[audit_pb2_grpc.AuditServiceAsyncStub, AuditStore],
) -> None:
    stub, store = service
    ok = await stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=1, tree_size=8))
    assert ok.proof
    with store.write_engine.begin() as conn:
        conn.execute(delete(tree_table).where(tree_table.c.level == 1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=1, tree_size=8))
    assert err.value.code() is grpc.StatusCode.DATA_LOSS, err.value.details()
    assert "does not verify" in str(err.value.details())


async def test_a_request_beyond_the_log_is_still_invalid_argument(
    service: tuple[audit_pb2_grpc.AuditServiceAsyncStub, AuditStore],
) -> None:
    stub, _ = service
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=9, tree_size=8))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
