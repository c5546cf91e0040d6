"""`make run`, the agent part: the transport agency's agent, asked with curl.

Starts `gerbang agent serve` for dishub-atcs (and one for the city command centre, for the
warning stream), prints each curl command as a person would type it, runs it, and shows the
answer: JSON, CSV, a denial as a problem document, and the stream as Server-Sent Events.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

from tools.agent_federation import LocalAgent
from tools.federation import LocalFederation, free_port

PORT = 8480  # the README's port, when free
OCTOBER, NOVEMBER = "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"
SUBJECT = "nip-198703152010121002"  # the officer behind the demo's requests


def _port(preferred: int) -> int:
    with socket.socket() as s:
        # As uvicorn binds: a port left in TIME_WAIT by an earlier run is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _curl(agent: LocalAgent, path: str, body: Path, *extra: str) -> list[str]:
    return [
        "curl", "-sS", "-N", "-H", "Authorization: Bearer $TOKEN",
        "-H", "Gerbang-End-User: $ID_TOKEN", "-H", "Content-Type: application/json",
        *extra, "--data", f"@{body}", agent.url + path,
    ]  # fmt: skip


def _run(agent: LocalAgent, argv: list[str], lines: int) -> str:
    """Print the command, run it with the tokens filled in, print the start of its output."""
    print("$ " + shlex.join(argv).replace("'", '"'))
    filled = [
        a.replace("$TOKEN", agent.token).replace("$ID_TOKEN", agent.id_token(SUBJECT)) for a in argv
    ]
    out = subprocess.run(filled, capture_output=True, text=True, timeout=120, check=False).stdout
    text = out.splitlines()
    with contextlib.suppress(json.JSONDecodeError):
        # One line per member, cut at the terminal's width: the shape, not every row.
        doc = json.loads(out)
        members = [_member(k, v) for k, v in doc.items()]
        text = ["{", *(m + "," for m in members[:-1]), *members[-1:], "}"]
    if lines:
        print("\n".join(text[:lines]) + ("\n  …" if len(text) > lines else ""))
    return out


def _member(key: str, value: object, width: int = 100) -> str:
    line = f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
    return line if len(line) <= width else line[: width - 2] + " …"


def show_agent(federation: LocalFederation, legal_basis: dict[str, str]) -> None:
    if shutil.which("curl") is None:
        print("curl is not installed: skipping the agent's curl session")
        return
    with LocalAgent(federation, "dishub-atcs", port=_port(PORT)) as agent:
        print(f"agent for dishub-atcs on {agent.url} (config {agent.config_path})")
        print(f"API docs: {agent.url}/docs   OpenAPI: {agent.url}/openapi.json")
        print(
            "$ export TOKEN=<the API token `gerbang agent token` made>\n"
            f"$ export ID_TOKEN=$(.venv/bin/gerbang agent issuer mint {agent.issuer.directory} "
            f"--subject {SUBJECT} --audience gerbang-agent)"
        )
        traffic = agent.directory / "traffic.json"
        traffic.write_text(
            json.dumps(
                {
                    "dataset": "incidents",
                    "fields": ["kecamatan"],
                    "filters": [
                        {"field": "kota", "op": "eq", "values": ["Jakarta Selatan"]},
                        {"field": "occurred_at", "op": "ge", "values": [{"time": OCTOBER}]},
                        {"field": "occurred_at", "op": "lt", "values": [{"time": NOVEMBER}]},
                    ],
                    "aggregation": {"group_by": [{"field": "kecamatan"}]},
                    "purpose": "traffic_planning",
                    "legal_basis": legal_basis["traffic_planning"],
                },
                indent=1,
            )
        )  # fmt: skip
        _run(agent, _curl(agent, "/v1/query", traffic), 20)
        _run(agent, _curl(agent, "/v1/query", traffic, "-H", "Accept: text/csv"), 6)
        records = agent.directory / "records.json"
        records.write_text(
            json.dumps(
                json.loads(traffic.read_text())
                | {"aggregation": None, "fields": ["incident_id", "kecamatan"]}
            )
        )
        print("# record-level rows for traffic planning: denied, with the rule and the receipt")
        _run(agent, _curl(agent, "/v1/query", records), 14)
        journal = [json.loads(line) for line in agent.journal.read_text().splitlines()]
        print(
            f"agent journal {agent.journal}: {len(journal)} requests by client "
            f"{journal[-1]['client']!r} for {journal[-1]['user']['sub']} "
            f"(commitment {journal[-1]['user']['commitment'][:16]}…)"
        )
    with LocalAgent(federation, "jsc-command-centre", port=_port(PORT + 1)) as jsc:
        print("# the city command centre's agent: the early-warning stream, as Server-Sent Events")
        window = jsc.directory / "warnings.json"
        window.write_text(
            json.dumps(
                {
                    "purpose": "public_order_early_warning",
                    "legal_basis": legal_basis["public_order_early_warning"],
                    "start": "2026-10-29T00:00:00+07:00",
                    "end": "2026-11-01T00:00:00+07:00",
                }
            )
        )
        out = _run(jsc, _curl(jsc, "/v1/watch-warnings", window), 0)
        for block in out.strip().split("\n\n"):
            fields = dict(line.partition(": ")[::2] for line in block.splitlines())
            data = json.loads(fields.get("data", "{}") or "{}")
            alerts = len(data.get("result", {}).get("alerts", []))
            receipt = data.get("audit_receipt", {}).get("leaf_index")
            if receipt is None:
                print(f"event: {fields.get('event')}")
            else:
                print(
                    f"event: {fields.get('event')}  id: {fields.get('id')}  alerts: {alerts}  "
                    f"audit entry: {receipt}"
                )


CONSOLES = (
    ("citata-spatial", (("peta", "Peta kejadian / Crime map (spatial planning)"),)),
    (
        "jsc-command-centre",
        (
            ("dasbor", "Dasbor eksekutif / Executive dashboard"),
            ("komando", "Pusat komando / Command centre (early warnings)"),
        ),
    ),
    ("samapta", (("patroli", "Perencanaan patroli / Patrol planning (Direktorat Samapta)"),)),
    ("kompolnas-oversight", (("pengawasan", "Konsol pengawasan / Oversight console (Kompolnas)"),)),
)
OVERSIGHT = "kompolnas-oversight"


def serve_consoles(federation: LocalFederation, wait: bool) -> None:
    """Start the agents whose consoles the demo shows, print each URL with what to paste at
    its sign-in, and (when `wait`) keep them up until Enter or Ctrl-C."""
    with contextlib.ExitStack() as stack:
        for i, (identity, views) in enumerate(CONSOLES):
            oversight = identity == OVERSIGHT  # its commissioner's client may open sealed details
            agent = stack.enter_context(
                LocalAgent(
                    federation,
                    identity,
                    port=_port(PORT + 10 + i),
                    oversight=oversight,
                    client="komisioner" if oversight else "sip",
                )
            )
            for view, title in views:
                print(f"{title}\n  {agent.url}/consoles/#/{view}")
            print(f"  token API / API token:  {agent.token}")
            print(f"  token ID / ID token:    {agent.id_token(SUBJECT, lifetime=8 * 3600)}")
        if not wait:
            print("(not a terminal: the consoles stop with the demo)")
            return
        print("Buka di peramban; tekan Enter untuk berhenti / open in a browser; Enter stops them")
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input()
