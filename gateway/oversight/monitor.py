"""`gerbang monitor`: an oversight body follows the audit log through tlog-tiles and raises alerts.

One step (`follow`), in order:
1. fetch the checkpoint and verify the log's signature (and, with a witness
   policy, its quorum of cosignatures);
2. against the monitor's state: a smaller size is a rollback, the same size
   with another root a fork (`ForkDetected`);
3. read the new entries [old size, new size) from the entry bundles, each
   checked against its level-0 tile hash, each naming its index and linking
   to the previous entry's hash;
4. append their leaf hashes to the compact range kept from the old tree: the
   result must be the new checkpoint's root. This proves the new tree extends
   the old one (consistency) without trusting any tile above level 0;
5. run the alert rules over the new entries;
6. only then replace the state file atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.oversight.monitor_rules import Alert, MonitorRules, RuleState, evaluate
from gateway.oversight.remote import Fetch, fetch_checkpoint, read_entries
from gateway.oversight.witness import ForkDetected
from gateway.protocol.audit_entry import GENESIS
from gateway.tlog.merkle import CompactRange, leaf_hash
from gateway.tlog.witness_policy import WitnessPolicy


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class MonitorState:
    origin: str = ""
    size: int = 0
    root: bytes = b""
    edge: tuple[bytes, ...] = ()
    last_hash: bytes = GENESIS
    rules: RuleState = field(default_factory=RuleState)

    def to_json(self) -> str:
        return json.dumps(
            {
                "origin": self.origin,
                "size": self.size,
                "root": _b64(self.root),
                "edge": [_b64(h) for h in self.edge],
                "last_hash": self.last_hash.hex(),
                "rules": self.rules.to_json(),
            }
        )

    @classmethod
    def load(cls, path: Path) -> MonitorState:
        if not path.exists():
            return cls()
        doc = json.loads(path.read_text())
        return cls(
            str(doc["origin"]),
            int(doc["size"]),
            base64.b64decode(doc["root"]),
            tuple(base64.b64decode(h) for h in doc["edge"]),
            bytes.fromhex(doc["last_hash"]),
            RuleState.from_json(doc.get("rules", {})),
        )

    def save(self, path: Path) -> None:
        """Step 6: atomically, so a crash leaves the old state or the new one."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)


def follow(
    fetch: Fetch,
    vkey: str,
    state: MonitorState,
    rules: MonitorRules,
    policy: WitnessPolicy | None = None,
) -> tuple[MonitorState, list[Alert]]:
    """Steps 1 to 5; returns the new state (not yet saved) and the alerts."""
    from gateway.protocol.audit_entry import Entry
    from gateway.tlog.note import parse_verifier_key

    checkpoint, note = fetch_checkpoint(fetch, vkey)  # 1.
    if policy is not None:
        policy.check(note, [parse_verifier_key(vkey)])
    if state.origin and state.origin != checkpoint.origin:
        raise ForkDetected(f"the state is for log {state.origin!r}, not {checkpoint.origin!r}")
    if checkpoint.size < state.size:  # 2.
        raise ForkDetected(
            f"ROLLBACK: the log now shows size {checkpoint.size}; this monitor saw {state.size}"
        )
    if checkpoint.size == state.size:
        if state.size and checkpoint.root_hash != state.root:
            raise ForkDetected(f"FORK: two different roots for size {state.size}")
        return state, []
    tree = CompactRange.resume(state.size, state.edge)
    last = state.last_hash
    rule_state = RuleState.from_json(json.loads(json.dumps(state.rules.to_json())))
    alerts: list[Alert] = []
    for row in read_entries(fetch, checkpoint.size, {}, start=state.size):  # 3.
        entry: Entry = row.entry
        fields = entry.fields()
        if fields.get("index") != entry.index or fields.get("prev") != last.hex():
            raise ForkDetected(
                f"FORK: entry {entry.index} does not name its index or does not link to entry "
                f"{entry.index - 1} as this monitor saw it"
            )
        last = hashlib.sha256(entry.leaf).digest()
        tree.append(leaf_hash(entry.leaf))  # 4.
        alerts += evaluate(fields, entry.index, rule_state, rules)  # 5.
    if tree.size != checkpoint.size or tree.root() != checkpoint.root_hash:
        raise ForkDetected(
            f"FORK: the entries after size {state.size} do not lead to the signed root at size "
            f"{checkpoint.size}: the new tree does not extend the one this monitor saw"
        )
    new = MonitorState(
        checkpoint.origin, checkpoint.size, checkpoint.root_hash, tree.edge, last, rule_state
    )
    return new, alerts


def run(
    fetch: Fetch,
    vkey: str,
    state_path: Path,
    rules: MonitorRules,
    policy: WitnessPolicy | None = None,
) -> tuple[MonitorState, list[Alert]]:
    """One step with the state file: load, follow, save (only after everything verified)."""
    state = MonitorState.load(state_path)
    new, alerts = follow(fetch, vkey, state, rules, policy)
    if new is not state:
        new.save(state_path)
    return new, alerts


def alert_lines(alerts: Sequence[Alert]) -> list[str]:
    return [json.dumps(a.to_json(), ensure_ascii=False) for a in alerts]


def load_rules(path: Path) -> MonitorRules:
    doc: Any = json.loads(path.read_text())
    return MonitorRules.parse(doc)


def cmd_monitor(args: Any) -> int:
    import sys
    import time

    from gateway.oversight.remote import MutualTls, fetcher

    vkey_path = Path(args.pubkey)
    vkey = vkey_path.read_text().strip() if vkey_path.exists() else args.pubkey
    tls = (
        MutualTls.from_pki(Path(args.pki), args.identity)
        if args.remote.startswith("https")
        else None
    )
    fetch = fetcher(args.remote, tls)
    rules = load_rules(Path(args.rules))
    policy = WitnessPolicy.parse(Path(args.policy).read_text()) if args.policy else None
    rounds = 0
    while True:
        state, alerts = run(fetch, vkey, Path(args.state), rules, policy)
        for line in alert_lines(alerts):
            print(line, flush=True)
        print(
            f"monitor: {state.origin} verified up to size {state.size}, {len(alerts)} alerts",
            file=sys.stderr,
            flush=True,
        )
        rounds += 1
        if not args.every or (args.rounds and rounds >= args.rounds):
            return 0
        time.sleep(args.every)


def add_monitor_command(sub: Any) -> None:
    p = sub.add_parser(
        "monitor", help="follow the audit log through tlog-tiles, verify it, raise alerts"
    )
    p.add_argument("--remote", required=True, metavar="URL", help="the log's tlog-tiles prefix")
    p.add_argument("--pubkey", required=True, help="the log's verifier key (or a file)")
    p.add_argument("--rules", required=True, help="the alert rules (JSON)")
    p.add_argument("--state", default=".gerbang/monitor-kompolnas.json")
    p.add_argument("--policy", help="a C2SP tlog-policy the checkpoint must meet")
    p.add_argument("--pki", default=".gerbang/pki")
    p.add_argument("--identity", default="kompolnas-oversight")
    p.add_argument("--every", type=float, default=0, help="repeat every N seconds")
    p.add_argument("--rounds", type=int, default=0, help="stop after N rounds (with --every)")
    p.set_defaults(func=cmd_monitor)
