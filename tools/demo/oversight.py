"""The demo's oversight: a standard C2SP witness, Kompolnas witnessing and mirroring the log,
and the log verified offline at the end.
"""

from __future__ import annotations

import contextlib
import time

import grpc

from gateway.audit.checkpoints import ORIGIN, LogKey
from gateway.audit.store import AuditStore
from gateway.cli.audit import b64, witness_via_gateway
from gateway.client import Receipt
from gateway.oversight.remote import MutualTls, http_fetcher, verify_tiles
from gateway.oversight.verify import (
    stored_checkpoint_claims,
    verify_log,
    verify_tree_nodes,
)
from gateway.protocol.tls import TlsFiles
from gateway.tlog.merkle import verify_inclusion
from gateway.tlog.note import parse_verifier_key
from gerbang.v1 import audit_pb2, audit_pb2_grpc
from tools.demo.show import heading
from tools.demo.workdir import WORKDIR
from tools.federation import LocalFederation
from tools.litewitness import find_tools, litewitness


def standard_witness(stack: contextlib.ExitStack) -> list[str]:
    """Start torchwood's litewitness (a standard C2SP tlog-witness) for the log, if installed
    (`make tools`); return the gateway arguments that submit every checkpoint to it."""
    tools = find_tools()
    heading("A standard witness: torchwood's litewitness (C2SP tlog-witness)")
    policy_path = WORKDIR / "oversight.policy"
    policy_path.unlink(missing_ok=True)
    if tools is None:
        print("litewitness is not installed (run `make tools`): the log is witnessed by Kompolnas")
        return []
    log_vkey = LogKey.load_or_create(WORKDIR / "keys" / "audit-log.key").verifier_key
    name = "litewitness.example/w1"
    running = stack.enter_context(
        litewitness(WORKDIR / "litewitness", name, ORIGIN, log_vkey, tools)
    )
    print(f"litewitness {name} on {running.url}; every checkpoint goes to it (add-checkpoint)")
    # The oversight body's tlog-policy: this log, the standard witness, its quorum.
    policy_path.write_text(
        f"log {log_vkey}\nwitness litewitness {running.vkey} {running.url}\nquorum litewitness\n"
    )
    return ["--tlog-witness", f"{running.url},{running.vkey}"]


def mirror_through_tiles(federation: LocalFederation, url: str) -> None:
    """Kompolnas mirrors and verifies the whole log through the gateway's tlog-tiles."""
    vkey = federation.log_key_path.with_suffix(".pub").read_text().strip()
    tls = MutualTls.from_pki(federation.pki, "kompolnas-oversight")
    checkpoint, verified = verify_tiles(http_fetcher(url, tls), vkey)
    print(
        f"mirrored through tlog-tiles at {url} (mTLS, audit readers only): {verified.size} "
        f"entries verified against the checkpoint of size {checkpoint.size}; a static copy "
        f"for a public mirror is in {WORKDIR / 'tiles'}"
    )


def oversee(federation: LocalFederation, receipt: Receipt) -> None:
    """Wait for a checkpoint covering every entry, witness it, prove the first receipt in it."""
    creds = TlsFiles.load(federation.pki, "kompolnas-oversight").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        deadline = time.monotonic() + 10
        while True:
            latest = stub.GetLatestCheckpoint(audit_pb2.GetLatestCheckpointRequest(), timeout=5)
            if latest.checkpoint_size == latest.size or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        log_key = federation.log_key_path.with_suffix(".pub").read_text().strip()
        cp = witness_via_gateway(
            federation.address,
            federation.pki,
            "kompolnas-oversight",
            federation.witness_key(),
            federation.workdir / "witness-kompolnas.state",
            log_key,
        )
        print(f"witness checked consistency and cosigned the checkpoint of size {cp.size}")
        proof = stub.GetInclusionProof(
            audit_pb2.GetInclusionProofRequest(index=receipt.leaf_index, tree_size=cp.size),
            timeout=5,
        )
    verify_inclusion(
        receipt.leaf_hash, receipt.leaf_index, cp.size, list(proof.proof), cp.root_hash
    )
    print(
        f"receipt of query 1 (entry {receipt.leaf_index}) proven in that checkpoint "
        f"with {len(proof.proof)} hashes (RFC 9162 inclusion proof)"
    )


def verify_offline(federation: LocalFederation) -> None:
    """Verify the stopped federation's audit log from its store, as `gerbang audit verify` does."""
    heading("Audit log, verified offline")
    store = AuditStore(federation.audit_url)
    try:
        verifier = parse_verifier_key(
            federation.log_key_path.with_suffix(".pub").read_text().strip()
        )
        # As `gerbang audit verify` does: stored checkpoints against their notes, every
        # stored Merkle node against the leaves.
        claims = stored_checkpoint_claims(
            ((cp.size, cp.root_hash, cp.note) for cp in store.checkpoints()),
            store.cosigned_sizes(),
            verifier,
            ORIGIN,
        )
        leaves: list[bytes] = []
        verified = verify_log(store.scan(), store.head(), claims, leaf_hashes=leaves)
        verify_tree_nodes(leaves, store.scan_nodes())
        latest = store.checkpoint()
    finally:
        store.close()
    print(
        f"verified: {verified.size} entries, head hash {verified.head_hash.hex()}\n"
        f"Merkle root {b64(verified.root_hash)}, {verified.checkpoints_checked} signed checkpoints"
    )
    if latest is not None:
        print("latest checkpoint, with its cosignatures (standard witness, Kompolnas):")
        print("  " + latest.cosigned_note().decode().rstrip("\n").replace("\n", "\n  "))
    print(
        "check it yourself: .venv/bin/gerbang audit verify --store "
        f"{federation.audit_url} --pubkey {federation.log_key_path.with_suffix('.pub')}"
    )
