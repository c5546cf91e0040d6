"""The agent's standing warning stream and its acknowledgements across a restart (issue 15,
ADR 0020 amended), against real processes: the gateway, two adapters holding the synthetic
city with planted surges, the command centre's agent, and a webhook receiver on loopback.

The registry is copied with a three-second stream lifetime for the command centre, so the
gateway ends the agent's stream (STREAM_EXPIRED) in the middle of the watched days and the
agent must renew it. No browser and no HTTP client touch the agent while it watches.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gateway.agent import alerts
from gateway.agent.journal import open_commitment
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.pki import init_pki
from tests.agent_support import audit_entry, basis, headers
from tests.test_consoles_ops import REGIONS, WIB, surge_window
from tools.agent_federation import LocalAgent
from tools.federation import AdapterSpec, LocalFederation, free_port

SECRET = b"webhook-secret-of-the-standing-watch-0123456789"
COMMAND_CENTRE = "jsc-command-centre"
LIFETIME_SECONDS = 3
SERVICE_ACCOUNT = "svc-jsc-early-warning"
WATCH_OWN = {"interval_seconds": 1, "user": SERVICE_ACCOUNT, "retry_seconds": 0.5}


class Receiver:
    """A webhook receiver on loopback that keeps every delivery it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def ids(self) -> collections.Counter[str]:
        return collections.Counter(json.loads(b)["alert"]["id"] for _, b in self.received)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    from tools.city import seed_city

    work = tmp_path_factory.mktemp("agent-watch")
    policies = work / "policies"
    shutil.copytree("policies", policies)
    callers_file = policies / "registry" / "callers" / "data.json"
    callers = json.loads(callers_file.read_text())
    callers[EXAMPLE_CALLERS[COMMAND_CENTRE]]["limits"] = {
        "open_streams": 8,
        "stream_lifetime_seconds": LIFETIME_SECONDS,
    }
    callers_file.write_text(json.dumps(callers, indent=2))
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(
            url, incidents=30_000, seed=171 + i, kota=kota, persons=200, surges=2, surge_factor=2.0
        )
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs, policies=policies) as fed:
        yield fed


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def midnight(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(), WIB).isoformat()


def scope_of(federation: LocalFederation) -> tuple[dict[str, Any], str]:
    """The watched days (a planted surge with a day either side) and the surge's kecamatan."""
    first, last, kecamatan = surge_window(federation)
    body = {
        "purpose": "public_order_early_warning",
        "legal_basis": basis("public_order_early_warning"),
        "start": midnight(first - dt.timedelta(days=1)),
        "end": midnight(last + dt.timedelta(days=2)),
    }
    return body, kecamatan


def configure(agent: LocalAgent, receiver: Receiver, watch: dict[str, Any] | None) -> None:
    """The agent's file as LocalAgent wrote it, plus the webhook and (optionally) the watch."""
    secret = agent.directory / "webhook.key"
    secret.write_bytes(SECRET)
    text = agent.config_path.read_text().split("\n[webhook]")[0]
    text += (
        f"\n[webhook]\nurl = {json.dumps(receiver.url)}\nsecret_file = {json.dumps(str(secret))}\n"
        "attempts = 3\nbackoff_seconds = 0.2\n"
    )
    if watch is not None:
        text += "\n[watch]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in watch.items())
    agent.config_path.write_text(text)


def journal(agent: LocalAgent) -> list[dict[str, Any]]:
    return [json.loads(x) for x in agent.journal.read_text().splitlines()]


def wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def sse_alerts(agent: LocalAgent, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alert of a warning stream asked of the agent over HTTP, read to its end."""
    found: list[dict[str, Any]] = []
    with httpx.stream(
        "POST", agent.url + "/v1/watch-warnings", json=body, headers=headers(agent), timeout=120
    ) as r:
        assert r.status_code == 200, r.read()
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                assert event in ("day", "end"), line
                if event == "day":
                    found += json.loads(line[6:])["result"]["alerts"]
    return found


@pytest.fixture(scope="module")
def watched(
    federation: LocalFederation, receiver: Receiver
) -> Iterator[tuple[LocalAgent, dict[str, Any], str]]:
    """The command centre's agent, watching by itself until its configured end."""
    body, kecamatan = scope_of(federation)
    agent = LocalAgent(federation, COMMAND_CENTRE)
    configure(
        agent,
        receiver,
        body | WATCH_OWN,
    )
    agent.start()
    try:
        wait_for(
            lambda: any(
                e["operation"] == "watch-end"
                for e in journal(agent)
                if "ended" in e.get("detail", "")
            ),
            120,
            "the watcher reached its configured end",
        )
        yield agent, body, kecamatan
    finally:
        agent.stop()


def test_alerts_reach_the_webhook_with_no_console_open_across_a_renewed_stream(
    watched: tuple[LocalAgent, dict[str, Any], str], receiver: Receiver
) -> None:
    agent, body, kecamatan = watched
    lines = journal(agent)
    # Nobody called the agent: every line is the watcher's or the webhook's.
    assert {e["client"] for e in lines} == {"watch", "webhook"}
    opened = [e for e in lines if e["operation"] == "watch-warnings"]
    ends = [e for e in lines if e["operation"] == "watch-end"]
    # The gateway ended the first stream at the three-second lifetime; the agent renewed it
    # from the day after the last one released, never re-asking a day.
    assert len(opened) >= 2, ends
    assert any(e["detail"].startswith("renewing") and e["status"] == 400 for e in ends)
    starts = [e["request"]["start"] for e in opened]
    assert starts[0] == body["start"]
    assert starts == sorted(set(starts))
    assert all(e["user"]["sub"] == SERVICE_ACCOUNT for e in opened)
    assert all(isinstance(e["audit_entry"], int) for e in opened)
    # The audit entry of each stream carries the service account's commitment, which the
    # organisation opens from its journal (`gerbang agent journal open`).
    for e in opened:
        entry = audit_entry(agent.federation, e["audit_entry"])
        assert entry["user_commitment"] == e["user"]["commitment"]
    assert open_commitment(agent.journal, opened[0]["user"]["commitment"])
    assert ends[-1]["detail"].startswith("ended")
    assert ends[-1]["request"]["next_day"] == (body["end"][:10])
    # The surge's alert reached the receiver, signed; every alert exactly once.
    ids = receiver.ids()
    assert any(i.endswith("/" + kecamatan) for i in ids), ids
    assert set(ids.values()) == {1}, ids
    for head, raw in receiver.received:
        assert alerts.verify(SECRET, raw, head[alerts.SIGNATURE_HEADER], time.time())
    delivered = [e["request"]["alert"] for e in lines if e["operation"] == "webhook"]
    assert sorted(delivered) == sorted(ids)
    assert all(e["detail"] == "delivered" for e in lines if e["operation"] == "webhook")


def test_acknowledgements_survive_a_restart_and_alerts_are_not_delivered_twice(
    watched: tuple[LocalAgent, dict[str, Any], str], receiver: Receiver
) -> None:
    agent, body, kecamatan = watched
    before = receiver.ids()
    # A console watches the same days. Its stream's alerts can differ from the watcher's
    # after the renewal (another noisy release of the lookback), but an id the watcher
    # delivered is not delivered again, and one only the console saw is delivered once.
    seen = sse_alerts(agent, body)
    wait_for(lambda: {a["id"] for a in seen} <= set(receiver.ids()), 15, "console's alerts")
    delivered = receiver.ids()
    assert set(before) <= set(delivered)
    assert set(delivered.values()) == {1}, delivered
    surge = next(a for a in seen if a["area"] == kecamatan)
    assert surge["acknowledged"] is None
    r = httpx.post(
        agent.url + "/v1/acknowledge", json={"alert": surge["id"]}, headers=headers(agent)
    )
    assert r.status_code == 200, r.text
    acknowledged_at = r.json()["acknowledged_at"]

    # Restarted on the same state directory with the same watch: it carries on where it
    # stopped (its end), asking the gateway nothing.
    agent.stop()
    lines = len(journal(agent))
    configure(agent, receiver, body | WATCH_OWN)
    agent.start()
    again = next(a for a in sse_alerts(agent, body) if a["id"] == surge["id"])
    assert again["acknowledged"] == {"by": "nip-198501012010011001", "at": acknowledged_at}
    time.sleep(1.0)  # deliveries run in their own tasks: give a duplicate the time to show
    assert receiver.ids() == delivered
    after = [e for e in journal(agent)[lines:] if e["client"] == "watch"]
    assert [(e["operation"], e["detail"][:5]) for e in after] == [("watch-end", "ended")]
    assert after[0]["request"]["next_day"] == body["end"][:10]


def test_watch_settings_are_checked_at_start(tmp_path: Any) -> None:
    from gateway.agent.config import load_config
    from gateway.errors import ConfigurationError

    base = (
        '[agent]\nidentity = "x"\npki = "p"\nkeys = "k"\ngateway = "127.0.0.1:1"\n'
        '[[clients]]\nname = "c"\ntoken_sha256 = "' + "0" * 64 + '"\n[users]\nrequired = false\n'
    )
    hook = '[webhook]\nurl = "https://a.go.id/x"\nsecret_file = "key"\n'
    (tmp_path / "key").write_bytes(SECRET)
    watch = '[watch]\npurpose = "public_order_early_warning"\nlegal_basis = "b"\n'
    cases = {
        watch: "needs a \\[webhook\\]",
        hook + watch + 'colour = "red"\n': "unknown key",
        hook + watch + 'start = "2026-10-01"\n': "UTC offset",
        hook + watch + "retry_seconds = 0\n": "retry_seconds",
        hook + watch + "retry_seconds = 9\nmax_retry_seconds = 3\n": "at least retry",
        hook + watch + "user = 7\n": "service account",
    }
    path = tmp_path / "agent.toml"
    for extra, message in cases.items():
        path.write_text(base + extra)
        with pytest.raises(ConfigurationError, match=message):
            load_config(path, env={})
    path.write_text(base + hook + watch + 'kota = ["Jakarta Selatan"]\nuser = "svc"\n')
    config = load_config(path, env={})
    assert config.watch is not None
    assert config.watch.user == "svc"
    assert config.watch.body["kota"] == ["Jakarta Selatan"]
    assert (config.watch.retry_seconds, config.watch.max_retry_seconds) == (5.0, 300.0)


def test_the_watch_backs_off_while_the_gateway_is_unreachable_and_stops_cleanly(
    federation: LocalFederation, receiver: Receiver
) -> None:
    """Nothing listens where the agent looks for the gateway: each failure is journalled
    and the next attempt waits twice as long (0.5 s, 1 s, 2 s ...), never a tight loop; on
    shutdown the watch journals where it stopped."""
    body, _ = scope_of(federation)
    agent = LocalAgent(
        federation, "pemkot-jaksel-command-centre", gateway=f"127.0.0.1:{free_port()}"
    )
    configure(agent, receiver, body | WATCH_OWN)
    agent.start()
    try:
        time.sleep(4.0)
    finally:
        agent.stop()
    ends = [e for e in journal(agent) if e["client"] == "watch"]
    assert all(e["operation"] == "watch-end" for e in ends)
    retries = [e["detail"].split(":")[0] for e in ends[:-1]]
    assert 2 <= len(retries) <= 4, retries
    assert retries == [f"retrying in {0.5 * 2**i:g} s" for i in range(len(retries))]
    assert all(e["status"] == 503 for e in ends[:-1])
    assert ends[-1]["detail"] == "stopped: the agent is shutting down"
    assert ends[-1]["request"]["next_day"] == body["start"][:10]
