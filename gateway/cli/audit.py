"""The `gerbang audit ...` and `gerbang witness` commands: thin I/O around the pure core.

Proofs and hashes are printed as standard base64, in the JSON shapes of the
transparency-dev test vectors, so other RFC 9162 tools can read them.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from gateway.errors import ConfigurationError, GerbangError, UntrustedInputError
from gateway.oversight.verify import (
    check_outside_checkpoints,
    checkpoint_claims,
    outside_claims,
    stored_checkpoint_claims,
    verify_log,
    verify_tree_nodes,
)
from gateway.protocol.audit_entry import Entry
from gateway.protocol.audit_rows import StoredEntry
from gateway.tlog.note import parse_verifier_key

if TYPE_CHECKING:  # the store (and SQLAlchemy) only for the commands that open one
    from gateway.audit.store import AuditStore


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _open(url: str) -> AuditStore:
    from gateway.audit.store import AuditStore

    return AuditStore(url)


def _log_key(given: str | None) -> tuple[str, str]:
    """(origin, verifier key) from the caller: a key string, or a file (trust file) with one.

    Never the key stored in the log or its export: a log that vouches for its own key
    proves nothing to an outsider.
    """
    if not given:
        raise ConfigurationError(
            "pass the log's verifier key with --pubkey (the key string, or a file holding it, "
            "from a source you trust); the key stored in the log is not used"
        )
    path = Path(given)
    vkey = path.read_text().strip() if path.exists() else given
    return parse_verifier_key(vkey).name, vkey


def cmd_checkpoint(args: argparse.Namespace) -> int:
    store = _open(args.store)
    try:
        cp = store.checkpoint()
    finally:
        store.close()
    if cp is None:
        raise GerbangError("the log has no signed checkpoint yet")
    sys.stdout.write(cp.cosigned_note().decode())
    return 0


def cmd_pubkey(args: argparse.Namespace) -> int:
    store = _open(args.store)
    try:
        vkey = store.published("verifier_key")
    finally:
        store.close()
    if vkey is None:
        raise GerbangError("the log has not published a verifier key yet")
    print(vkey)
    return 0


def _size(store: AuditStore, requested: int | None) -> int:
    if requested:
        return requested
    cp = store.checkpoint()
    return cp.size if cp is not None else store.head().size


def cmd_prove(args: argparse.Namespace) -> int:
    store = _open(args.store)
    try:
        size = _size(store, args.size)
        leaf, proof, root = store.inclusion_proof(args.index, size)
    finally:
        store.close()
    out = {
        "leafIdx": args.index,
        "treeSize": size,
        "root": b64(root),
        "leafHash": b64(leaf),
        "proof": [b64(p) for p in proof],
    }
    print(json.dumps(out, indent=2))
    return 0


def cmd_consistency(args: argparse.Namespace) -> int:
    store = _open(args.store)
    try:
        size2 = _size(store, args.to)
        proof, r1, r2 = store.consistency_proof(args.from_, size2)
    finally:
        store.close()
    out = {
        "size1": args.from_,
        "size2": size2,
        "root1": b64(r1),
        "root2": b64(r2),
        "proof": [b64(p) for p in proof],
    }
    print(json.dumps(out, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """JSON lines: a header, every entry, every checkpoint note (with cosignatures)."""
    store = _open(args.store)
    try:
        with open(args.out, "w") as f:
            f.write(
                json.dumps(
                    {
                        "origin": store.published("origin"),
                        "verifier_key": store.published("verifier_key"),
                    }
                )
                + "\n"
            )
            n = 0
            for row in store.scan():
                f.write(json.dumps({"index": row.entry.index, "leaf": b64(row.entry.leaf)}) + "\n")
                n += 1
            for cp in store.checkpoints():
                full = store.checkpoint(cp.size)
                assert full is not None
                f.write(json.dumps({"checkpoint": full.cosigned_note().decode()}) + "\n")
    finally:
        store.close()
    print(f"exported {n} entries to {args.out}")
    return 0


def _export_rows(path: Path, notes: list[bytes]) -> Iterator[StoredEntry]:
    import hashlib

    with open(path) as f:
        next(f)  # header
        for line in f:
            doc = json.loads(line)
            if "checkpoint" in doc:
                notes.append(doc["checkpoint"].encode())
                continue
            leaf = base64.b64decode(doc["leaf"])
            yield StoredEntry(Entry(int(doc["index"]), leaf, hashlib.sha256(leaf).digest()))


def _progress(total: int, asked: bool) -> Callable[[int], None] | None:
    """A progress bar on stderr for `verify_log`'s count of entries checked: on a terminal
    for a long log, or whenever `--progress` asks; never on stdout, which the report owns."""
    if not asked and (not sys.stderr.isatty() or total < 100_000):
        return None
    bar = tqdm(total=total, desc="gerbang audit verify", unit=" entries", file=sys.stderr)
    seen = 0

    def show(n: int) -> None:
        nonlocal seen
        if n - seen >= 5_000 or n == total:
            bar.update(n - seen)
            seen = n
            if n == total:
                bar.close()

    return show


def cmd_verify(args: argparse.Namespace) -> int:
    if args.remote:
        from gateway.cli.tiles import cmd_verify_remote

        return cmd_verify_remote(args)
    origin, vkey = _log_key(args.pubkey)
    outside = outside_claims(args.checkpoint or [], vkey, origin)
    nodes = 0
    if args.export:
        path = Path(args.export)
        notes: list[bytes] = []
        rows = list(_export_rows(path, notes))
        claims = checkpoint_claims(notes, vkey, origin, "exported checkpoint")
        check_outside_checkpoints(outside, claims)
        verified = verify_log(rows, None, claims + outside, _progress(len(rows), args.progress))
    else:
        store = _open(args.store)
        try:
            head = store.head()
            claims = stored_checkpoint_claims(
                ((c.size, c.root_hash, c.note) for c in store.checkpoints()),
                store.cosigned_sizes(),
                parse_verifier_key(vkey),
                origin,
            )
            check_outside_checkpoints(outside, claims)
            leaves: list[bytes] = []
            verified = verify_log(
                store.scan(), head, claims + outside, _progress(head.size, args.progress), leaves
            )
            nodes = verify_tree_nodes(leaves, store.scan_nodes())
        finally:
            store.close()
    print(
        f"audit log OK: {verified.size} entries, head {verified.head_hash.hex()}, "
        f"root {b64(verified.root_hash)}, {verified.checkpoints_checked} checkpoints checked"
        + (f", {nodes} tree nodes checked" if nodes else "")
        + (f", {len(outside)} held outside the log" if outside else "")
    )
    return 0


def witness_via_gateway(
    address: str,
    pki: Path,
    identity: str,
    key: Any,
    state: Path,
    log_key: str,
    mldsa: bool = False,
) -> Any:
    """One witness round against a running gateway; returns the cosigned Checkpoint."""
    import grpc

    from gateway.oversight.witness import witness_round
    from gateway.protocol.tls import TlsFiles
    from gerbang.v1 import audit_pb2, audit_pb2_grpc

    origin = parse_verifier_key(log_key).name
    creds = TlsFiles.load(pki, identity).channel_credentials()
    with grpc.secure_channel(address, creds) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)

        def fetch_proof(size1: int, size2: int) -> list[bytes]:
            answer = stub.GetConsistencyProof(
                audit_pb2.GetConsistencyProofRequest(from_size=size1, to_size=size2), timeout=10
            )
            return list(answer.proof)

        def submit(size: int, line: str) -> None:
            stub.AddCosignature(
                audit_pb2.AddCosignatureRequest(size=size, signature_line=line), timeout=10
            )

        latest = stub.GetLatestCheckpoint(audit_pb2.GetLatestCheckpointRequest(), timeout=10)
        if not latest.note:
            raise UntrustedInputError("the log has no signed checkpoint yet")
        checkpoint, _ = witness_round(
            latest.note,
            fetch_proof,
            log_key=log_key,
            origin=origin,
            state_path=state,
            key=key,
            submit=submit,
            mldsa=mldsa,
        )
        return checkpoint


def cmd_witness(args: argparse.Namespace) -> int:
    from gateway.oversight.witness import WitnessKey

    key = WitnessKey.load_or_create(Path(args.key), args.name)
    if args.print_key:
        print(key.verifier_key)
        return 0
    if args.print_mldsa_key:
        if key.mldsa_verifier_key is None:
            raise ConfigurationError(f"{args.key} predates ML-DSA-44 and holds no such key")
        print(key.mldsa_verifier_key)
        return 0
    vkey_arg = Path(args.log_key)
    log_key = vkey_arg.read_text().strip() if vkey_arg.exists() else args.log_key
    if args.listen:
        return _serve_witness(args, key, args.witness_log or [log_key])
    rounds = 0
    while True:
        cp = witness_via_gateway(
            args.gateway, Path(args.pki), args.identity, key, Path(args.state), log_key,
            args.mldsa,
        )  # fmt: skip
        print(f"cosigned {cp.origin} at size {cp.size}, root {b64(cp.root_hash)}")
        rounds += 1
        if not args.every or (args.rounds and rounds >= args.rounds):
            return 0
        time.sleep(args.every)


def _serve_witness(args: argparse.Namespace, key: Any, log_keys: list[str]) -> int:
    """Push mode: a C2SP tlog-witness HTTP server until interrupted."""
    from gateway.oversight.witness_server import WitnessedLogs, WitnessState, make_server

    host, _, port = args.listen.rpartition(":")
    vkeys = [Path(k).read_text().strip() if Path(k).exists() else k for k in log_keys]
    logs = WitnessedLogs.from_vkeys(vkeys)
    server = make_server((host, int(port)), WitnessState(Path(args.state_db)), logs, key)
    print(
        f"tlog-witness {key.name} on http://{args.listen}/ for {', '.join(logs.keys)}\n"
        f"cosigner key: {key.verifier_key}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_details(args: argparse.Namespace) -> int:
    from gateway.protocol.sealed_details import DetailsKey, open_details

    store = _open(args.store)
    try:
        entry = store.entries(args.index, args.index + 1)
        blob = store.details(args.index)
    finally:
        store.close()
    if not entry:
        raise GerbangError(f"the log has no entry {args.index}")
    view = entry[0].fields().get("details")
    if not view:
        raise GerbangError(f"entry {args.index} has no sealed details")
    if blob is None:
        raise GerbangError(f"the sealed details of entry {args.index} were erased (retention)")
    print(
        json.dumps(
            open_details(blob, view, DetailsKey.load_or_create(Path(args.key)).private_key),
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    import datetime as dt

    now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
    store = _open(args.store)
    try:
        erased = store.erase_expired_details(now)
    finally:
        store.close()
    print(f"erased {erased} sealed details past their retention")
    return 0


def add_audit_commands(audit: Any, witness: argparse.ArgumentParser) -> None:
    default_store = "sqlite:///.gerbang/audit.db"
    p = audit.add_parser("verify", help="verify the whole log: chain, tree, checkpoints, head")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--store", default=default_store, help="SQLAlchemy URL of the audit log")
    src.add_argument("--export", help="a file written by `gerbang audit export`")
    src.add_argument(
        "--remote", metavar="URL", help="a tlog-tiles prefix: mirror and verify, no database"
    )
    p.add_argument(
        "--pubkey",
        help="the log's verifier key, or a file with it, from a source you trust (required: "
        "the key stored in the log is never used)",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (it is shown on one for "
        "logs of 100,000 entries or more)",
    )
    p.add_argument("--pki", default=".gerbang/pki", help="with an https --remote: the CA")
    p.add_argument(
        "--identity", default="kompolnas-oversight", help="with an https --remote: client cert"
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        metavar="FILE",
        help="a checkpoint held outside the log: a signed note, an evidence bundle or a "
        "witness's state file; the log must hold it and agree with it (repeatable)",
    )
    p.set_defaults(func=cmd_verify)
    p = audit.add_parser("checkpoint", help="print the latest signed checkpoint note")
    p.add_argument("--store", default=default_store)
    p.set_defaults(func=cmd_checkpoint)
    p = audit.add_parser("pubkey", help="print the log's verifier key (name+keyid+base64)")
    p.add_argument("--store", default=default_store)
    p.set_defaults(func=cmd_pubkey)
    p = audit.add_parser("prove", help="inclusion proof of an entry, as JSON")
    p.add_argument("--store", default=default_store)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--size", type=int, default=None, help="tree size (default: latest checkpoint)")
    p.set_defaults(func=cmd_prove)
    p = audit.add_parser("consistency", help="consistency proof between two sizes, as JSON")
    p.add_argument("--store", default=default_store)
    p.add_argument("--from", dest="from_", type=int, required=True)
    p.add_argument("--to", type=int, default=None, help="default: latest checkpoint")
    p.set_defaults(func=cmd_consistency)
    p = audit.add_parser("export", help="export entries and checkpoints as JSON lines")
    p.add_argument("--store", default=default_store)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
    p = audit.add_parser("details", help="open an entry's sealed details (oversight key)")
    p.add_argument("--store", default=default_store)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--key", default=".gerbang/keys/oversight-kompolnas.x25519")
    p.set_defaults(func=cmd_details)
    p = audit.add_parser("retention", help="erase sealed details past their retention")
    p.add_argument("--store", default=default_store)
    p.add_argument("--now", help="ISO time to apply retention at (default: now)")
    p.set_defaults(func=cmd_retention)
    from gateway.cli.tiles import add_tiles_commands

    add_tiles_commands(audit, default_store)

    witness.add_argument("--gateway", default="127.0.0.1:7443")
    witness.add_argument("--pki", default=".gerbang/pki")
    witness.add_argument(
        "--identity", default="kompolnas-oversight", help="mTLS identity (file name)"
    )
    witness.add_argument("--key", default=".gerbang/keys/witness-kompolnas.json")
    witness.add_argument("--name", default="kompolnas.go.id/witness", help="witness key name")
    witness.add_argument("--state", default=".gerbang/witness-kompolnas.state")
    witness.add_argument(
        "--log-key",
        default=".gerbang/keys/audit-log.pub",
        help="the log's verifier key, or a file holding it",
    )
    witness.add_argument("--every", type=float, default=0, help="repeat every N seconds")
    witness.add_argument("--rounds", type=int, default=0, help="stop after N rounds (with --every)")
    witness.add_argument("--print-key", action="store_true", help="print the cosigner key and exit")
    witness.add_argument(
        "--print-mldsa-key", action="store_true", help="print the ML-DSA-44 cosigner key and exit"
    )
    witness.add_argument(
        "--mldsa",
        action="store_true",
        help="pull mode: also submit the ML-DSA-44 cosignature (the gateway lists its key with "
        "--witness-key)",
    )
    witness.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="push mode: serve C2SP tlog-witness (POST /add-checkpoint) instead of pulling",
    )
    witness.add_argument(
        "--witness-log",
        action="append",
        metavar="VKEY",
        help="with --listen: a log to witness, by its verifier key (or a file); repeatable; "
        "default: --log-key",
    )
    witness.add_argument(
        "--state-db",
        default=".gerbang/witness-kompolnas.db",
        help="with --listen: the per-log state (SQLite)",
    )
    witness.set_defaults(func=cmd_witness)
