"""`gerbang keys`: create, list, rotate and revoke the federation's signing and sealing keys."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.protocol.identities import EXAMPLE_CALLERS, GATEWAY_ID, adapter_id
from gateway.protocol.keys import KeyKind, KeyRegistry, Keystore, init_keys


def development_identities(adapters: tuple[str, ...]) -> dict[str, tuple[str, tuple[KeyKind, ...]]]:
    """Every development identity and the keys it needs, by keystore name."""
    out: dict[str, tuple[str, tuple[KeyKind, ...]]] = {
        slug: (spiffe, ("signing", "hpke")) for slug, spiffe in EXAMPLE_CALLERS.items()
    }
    out["gateway"] = (GATEWAY_ID, ("signing",))
    for name in adapters:
        out[f"adapter-{name}"] = (adapter_id(name), ("signing",))
    return out


def _owner(slug: str, adapters: tuple[str, ...]) -> str:
    ids = development_identities(adapters)
    if slug in ids:
        return ids[slug][0]
    if slug.startswith("adapter-"):
        return adapter_id(slug.removeprefix("adapter-"))
    raise ConfigurationError(f"unknown identity {slug!r}; known: {', '.join(sorted(ids))}")


def cmd_init(args: argparse.Namespace) -> int:
    registry = init_keys(Path(args.dir), development_identities(tuple(args.adapter)))
    print(f"{len(registry.keys)} keys registered in {Path(args.dir) / 'registry.json'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    registry = KeyRegistry.load(Path(args.dir) / "registry.json")
    now = dt.datetime.now(dt.UTC)
    print(f"{'key id':<16}  {'kind':<7}  {'state':<30}  owner")
    for k in sorted(registry.keys, key=lambda k: (k.owner, k.kind, k.not_before)):
        state = k.problem_at(now)
        status = "valid" if state is None else ("revoked" if k.revoked else "not valid now")
        if state is None and k.not_after is not None:
            status = f"valid until {k.not_after:%Y-%m-%d %H:%M}"
        print(f"{k.key_id:<16}  {k.kind:<7}  {status:<30}  {k.owner}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    path = Path(args.dir) / "registry.json"
    registry = KeyRegistry.load(path)
    owner = _owner(args.identity, tuple(args.adapter))
    kind: KeyKind = args.kind
    now = dt.datetime.now(dt.UTC)
    new = Keystore(Path(args.dir) / args.identity).new_key(owner, kind, now)
    registry.rotated(owner, kind, new, dt.timedelta(hours=args.overlap_hours)).save(path)
    print(f"new {kind} key {new.key_id} for {owner}; older keys valid {args.overlap_hours} h more")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    path = Path(args.dir) / "registry.json"
    KeyRegistry.load(path).revoked(args.key_id).save(path)
    print(f"revoked key {args.key_id}")
    return 0


def add_keys_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="signing and sealing keys").add_subparsers(
        dest="keys_command", required=True
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=".gerbang/keys", help="registry and keystores")
    common.add_argument("--adapter", action="append", default=["pmj-1", "pmj-2"])
    p = keys.add_parser("init", parents=[common], help="create missing keys for every identity")
    p.set_defaults(func=cmd_init)
    p = keys.add_parser("list", parents=[common], help="list registered keys and their state")
    p.set_defaults(func=cmd_list)
    p = keys.add_parser("rotate", parents=[common], help="add a new key; old ones overlap")
    p.add_argument("--identity", required=True, help="keystore name, e.g. dishub-atcs or gateway")
    p.add_argument("--kind", choices=["signing", "hpke"], default="signing")
    p.add_argument("--overlap-hours", type=float, default=24.0)
    p.set_defaults(func=cmd_rotate)
    p = keys.add_parser("revoke", parents=[common], help="refuse a key from now on")
    p.add_argument("--key-id", required=True)
    p.set_defaults(func=cmd_revoke)
