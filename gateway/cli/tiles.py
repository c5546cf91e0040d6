"""`gerbang audit tiles ...` and `gerbang audit verify --remote`: the log over C2SP tlog-tiles."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError


def _tls(args: argparse.Namespace) -> Any:
    from gateway.oversight.remote import MutualTls

    if args.remote.startswith("https://"):
        return MutualTls.from_pki(Path(args.pki), args.identity)
    return None


def cmd_verify_remote(args: argparse.Namespace) -> int:
    import base64

    from gateway.oversight.remote import fetcher, verify_tiles

    if not args.pubkey:
        raise ConfigurationError("--remote needs --pubkey: the log's verifier key, pinned")
    path = Path(args.pubkey)
    vkey = path.read_text().strip() if path.exists() else args.pubkey
    from gateway.oversight.verify import outside_claims
    from gateway.tlog.note import parse_verifier_key

    outside = outside_claims(args.checkpoint or [], vkey, parse_verifier_key(vkey).name)
    checkpoint, verified = verify_tiles(fetcher(args.remote, _tls(args)), vkey, outside=outside)
    print(
        f"audit log OK through tiles at {args.remote}: {verified.size} entries, "
        f"root {base64.b64encode(verified.root_hash).decode()}, "
        f"checkpoint of size {checkpoint.size} signed by "
        f"{checkpoint.origin}" + (f", {len(outside)} held outside the log" if outside else "")
    )
    return 0


def cmd_tiles_write(args: argparse.Namespace) -> int:
    from gateway.audit.store import AuditStore
    from gateway.audit.tiles import write_static

    store = AuditStore(args.store)
    try:
        rounds = 0
        while True:
            written, size = write_static(store, Path(args.out))
            print(f"wrote {written} files under {args.out} (size {size})", flush=True)
            rounds += 1
            if not args.every or (args.rounds and rounds >= args.rounds):
                return 0
            time.sleep(args.every)
    finally:
        store.close()


def cmd_tiles_serve(args: argparse.Namespace) -> int:
    from gateway.audit.store import AuditStore
    from gateway.audit.tiles import serve_tiles

    host, _, port = args.listen.rpartition(":")
    store = AuditStore(args.store)
    pki = None if args.insecure_plain_http else Path(args.pki)
    server = serve_tiles(
        (host, int(port)), store, pki_dir=pki, identity=args.identity,
        readers=args.reader or None,
    )  # fmt: skip
    scheme = "http" if pki is None else "https"
    print(f"tlog-tiles of {args.store} on {scheme}://{args.listen}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()
    return 0


def add_tiles_commands(audit: Any, default_store: str) -> None:
    tiles = audit.add_parser("tiles", help="publish the log as C2SP tlog-tiles").add_subparsers(
        dest="tiles_command", required=True
    )
    p = tiles.add_parser("serve", help="serve checkpoint, tiles and entry bundles over mTLS")
    p.add_argument("--store", default=default_store)
    p.add_argument("--listen", default="127.0.0.1:7446", metavar="HOST:PORT")
    p.add_argument("--pki", default=".gerbang/pki")
    p.add_argument("--identity", default="gateway", help="the server certificate (file name)")
    p.add_argument(
        "--reader", action="append", help="SPIFFE ID allowed to read (default: any federation cert)"
    )
    p.add_argument(
        "--insecure-plain-http",
        action="store_true",
        help="no TLS (loopback tests, or behind a TLS proxy)",
    )
    p.set_defaults(func=cmd_tiles_serve)
    p = tiles.add_parser("write", help="write checkpoint and tiles as static files for a mirror")
    p.add_argument("--store", default=default_store)
    p.add_argument("--out", required=True)
    p.add_argument("--every", type=float, default=0, help="repeat every N seconds")
    p.add_argument("--rounds", type=int, default=0, help="stop after N rounds (with --every)")
    p.set_defaults(func=cmd_tiles_write)
