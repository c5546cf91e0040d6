"""`gerbang monitor`: follows the log through tlog-tiles (static files on a loopback HTTP
server), verifies consistency at every step, keeps state, refuses rollbacks and forks, and
raises the oversight body's alerts."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.checkpoints import Checkpointer, LogKey
from gateway.audit.store import AuditStore
from gateway.audit.tiles import write_static
from gateway.errors import ConfigurationError
from gateway.oversight.monitor import MonitorState, run
from gateway.oversight.monitor_rules import MonitorRules, RuleState, evaluate
from gateway.oversight.remote import http_fetcher
from gateway.oversight.witness import ForkDetected
from gateway.protocol.audit_entry import AuditRecord
from gateway.tlog.merkle import leaf_hash
from gateway.tlog.tiles import ENTRIES, Tile, decode_bundle, encode_bundle

ORIGIN = "gerbang.test/audit"
ATCS = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
RESKRIM = "spiffe://gerbang.jakarta.go.id/polda-metro-jaya/reskrim"
WIB = dt.timezone(dt.timedelta(hours=7))
RULES = {
    "timezone_offset_hours": 7,
    "rate": {"window_minutes": 60, "factor": 4.0, "min_requests": 10, "min_history": 3},
    "denials": {"window_minutes": 10, "threshold": 4},
    "odd_hours": {"start": 22, "end": 5, "purposes": ["criminal_investigation"]},
    "purposes": {"criminal_investigation": {"callers": [RESKRIM], "datasets": ["incidents"]}},
}


def _entry(
    when: dt.datetime,
    caller: str = ATCS,
    decision: str = "allow",
    purpose: str = "traffic_planning",
    dataset: str = "incidents",
) -> dict[str, Any]:
    return {
        "kind": "query",
        "time": when.astimezone(dt.UTC).isoformat(),
        "caller": caller,
        "decision": decision,
        "purpose": purpose,
        "dataset": dataset,
    }


def _rules(**changes: Any) -> MonitorRules:
    return MonitorRules.parse({**RULES, **changes})


def test_rate_far_above_baseline() -> None:
    rules, state = _rules(), RuleState()
    day = dt.datetime(2026, 12, 1, 9, tzinfo=WIB)
    alerts = []
    index = 0
    for hour in range(4):  # a baseline of 5 requests an hour
        for i in range(5):
            alerts += evaluate(
                _entry(day + dt.timedelta(hours=hour, minutes=i)), index, state, rules
            )
            index += 1
    assert alerts == []
    spike = day + dt.timedelta(hours=5)
    for i in range(30):
        alerts += evaluate(_entry(spike + dt.timedelta(seconds=i)), index, state, rules)
        index += 1
    assert [a.rule for a in alerts] == ["rate"]  # once per window
    assert "more than 4.0x the caller's baseline of 5.0" in alerts[0].message
    assert alerts[0].index == 20 + 20  # the 21st request of the hour: 21 > 4 x 5


def test_denial_cluster_and_its_end() -> None:
    rules, state = _rules(), RuleState()
    t = dt.datetime(2026, 12, 1, 10, tzinfo=WIB)
    spread = [evaluate(_entry(t + dt.timedelta(minutes=11 * i), decision="deny"), i, state, rules)
              for i in range(6)]  # fmt: skip
    assert all(not a for a in spread)  # six denials, never four within ten minutes
    burst = [
        a
        for i in range(8)
        for a in evaluate(
            _entry(t + dt.timedelta(hours=2, seconds=20 * i), decision="deny"), 10 + i, state, rules
        )
    ]
    assert [(a.rule, a.index) for a in burst] == [("denials", 13)]


def test_odd_hours_and_purpose_patterns() -> None:
    rules, state = _rules(), RuleState()
    night = dt.datetime(2026, 12, 1, 23, 30, tzinfo=WIB)
    day = dt.datetime(2026, 12, 1, 14, 0, tzinfo=WIB)
    inv = {"caller": RESKRIM, "purpose": "criminal_investigation"}
    assert evaluate(_entry(day, **inv), 0, state, rules) == []
    assert [a.rule for a in evaluate(_entry(night, **inv), 1, state, rules)] == ["odd_hours"]
    assert evaluate(_entry(night), 2, state, rules) == []  # traffic planning is not watched
    early = dt.datetime(2026, 12, 2, 4, 59, tzinfo=WIB)
    assert [a.rule for a in evaluate(_entry(early, **inv), 3, state, rules)] == ["odd_hours"]
    wrong_caller = evaluate(
        _entry(day, caller=ATCS, purpose="criminal_investigation"), 4, state, rules
    )
    assert [(a.rule, a.caller) for a in wrong_caller] == [("purpose", ATCS)]
    wrong_data = evaluate(_entry(day, dataset="persons", **inv), 5, state, rules)
    assert [a.message for a in wrong_data] == [
        "purpose criminal_investigation used on dataset persons outside its pattern"
    ]


def test_rules_fail_closed() -> None:
    with pytest.raises(ConfigurationError, match="watch nothing"):
        MonitorRules.parse({"timezone_offset_hours": 7})
    with pytest.raises(ConfigurationError, match="unknown"):
        MonitorRules.parse({**RULES, "rates": {}})
    with pytest.raises(ConfigurationError, match="malformed"):
        MonitorRules.parse({"rate": {"window": 5}})


# --- following a real log ----------------------------------------------------------------


def _record(i: int, when: dt.datetime, **kw: Any) -> AuditRecord:
    base: dict[str, Any] = {"caller": ATCS, "decision": "allow", "purpose": "traffic_planning"}
    base.update(kw)
    return AuditRecord(
        time=when,
        kind="query",
        request_id=f"r{i}",
        status="OK" if base["decision"] == "allow" else "PERMISSION_DENIED",
        dataset="incidents",
        **base,
    )


class Log:
    """A log store, its checkpointer and its static tiles on a loopback HTTP server."""

    def __init__(self, directory: Path, key: LogKey) -> None:
        directory.mkdir()
        self.store = AuditStore(f"sqlite:///{directory / 'audit.db'}")
        self.store.create()
        self.checkpointer = Checkpointer(self.store, key, ORIGIN)
        self.site = directory / "site"
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(self.site))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def add(self, records: list[AuditRecord]) -> None:
        self.store.append(records)
        assert self.checkpointer.checkpoint_once() is not None
        write_static(self.store, self.site)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.store.close()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[tuple[Log, Log, str]]:
    key = LogKey.load_or_create(tmp_path / "log.key", ORIGIN)
    a, b = Log(tmp_path / "a", key), Log(tmp_path / "b", key)
    try:
        yield a, b, key.verifier_key
    finally:
        a.close()
        b.close()


def test_follow_verify_alert_and_refuse_forks(logs: tuple[Log, Log, str], tmp_path: Path) -> None:
    log, other, vkey = logs
    rules = _rules()
    state_path = tmp_path / "monitor.json"
    day = dt.datetime(2026, 12, 1, 10, tzinfo=WIB)
    log.add([_record(i, day + dt.timedelta(minutes=i)) for i in range(300)])
    state, alerts = run(http_fetcher(log.url), vkey, state_path, rules)
    assert (state.size, alerts) == (300, [])
    at_300 = state_path.read_text()

    night = dt.datetime(2026, 12, 1, 23, 15, tzinfo=WIB)
    log.add(
        [
            _record(300 + i, night, caller=RESKRIM, purpose="criminal_investigation")
            for i in range(2)
        ]
        + [_record(302 + i, night, decision="deny") for i in range(4)]
    )
    state, alerts = run(http_fetcher(log.url), vkey, state_path, rules)
    assert state.size == 306
    assert sorted({(a.rule, a.index) for a in alerts}) == [
        ("denials", 305), ("odd_hours", 300), ("odd_hours", 301)
    ]  # fmt: skip
    assert MonitorState.load(state_path).size == 306

    # Nothing new: nothing to do, no alert repeated.
    assert run(http_fetcher(log.url), vkey, state_path, rules)[1] == []

    # The mirror rewrites the last entry and its level-0 tile hash to match: the chain
    # still links (nothing follows it), but the tree no longer reaches the signed root.
    bundle, tile = log.site / "tile/entries/001.p/50", log.site / "tile/0/001.p/50"
    saved = bundle.read_bytes(), tile.read_bytes()
    entries = decode_bundle(saved[0], Tile(ENTRIES, 1, 50))
    entries[-1] = entries[-1].replace(b'"decision":"deny"', b'"decision":"allow"')
    bundle.write_bytes(encode_bundle(entries))
    tile.write_bytes(saved[1][:-32] + leaf_hash(entries[-1]))
    rewound = tmp_path / "rewound.json"
    rewound.write_text(at_300)
    with pytest.raises(ForkDetected, match="do not lead to the signed root"):
        run(http_fetcher(log.url), vkey, rewound, rules)
    assert rewound.read_text() == at_300
    bundle.write_bytes(saved[0])
    tile.write_bytes(saved[1])

    # Another history under the same key, larger: the entries do not extend ours.
    other.add([_record(i, day) for i in range(310)])
    with pytest.raises(ForkDetected, match="FORK"):
        run(http_fetcher(other.url), vkey, state_path, rules)
    # Smaller: a rollback.
    small = tmp_path / "small.json"
    run(http_fetcher(log.url), vkey, small, rules)
    other_small = Log(tmp_path / "c", LogKey.load_or_create(tmp_path / "log.key", ORIGIN))
    try:
        other_small.add([_record(i, day) for i in range(5)])
        with pytest.raises(ForkDetected, match="ROLLBACK"):
            run(http_fetcher(other_small.url), vkey, small, rules)
    finally:
        other_small.close()
    assert MonitorState.load(state_path).size == 306  # refusals never touch the state


def test_the_command(logs: tuple[Log, Log, str], tmp_path: Path) -> None:
    log, _, vkey = logs
    night = dt.datetime(2026, 12, 1, 23, 15, tzinfo=WIB)
    log.add([_record(0, night, caller=ATCS, purpose="criminal_investigation")])
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "monitor", "--remote", log.url, "--pubkey", vkey,
         "--rules", str(rules), "--state", str(tmp_path / "state.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert {a["rule"] for a in alerts} == {"odd_hours", "purpose"}
    assert "verified up to size 1" in done.stderr
