"""Early-warning alerts at the agent: their ids, their acknowledgement, their webhook.

Each alert of a warning stream the agent serves gets an id (`day/window/kecamatan`), is kept
for the client it was sent to, and is offered to the deployment's webhook. A person who saw
it acknowledges it with `POST /v1/acknowledge`; the journal records who, when, and which
answer (request id, audit entry) released it (ADR 0020).

The webhook (`[webhook]` in the agent's TOML) gets one POST per alert, a JSON body signed
with HMAC-SHA256 over `"<unix time>.<body>"` in `Gerbang-Signature: t=<time>,v1=<hex>`. Each
delivery runs in its own task, retried with exponential backoff; the stream never waits for
it. Deliveries beyond `MAX_IN_FLIGHT` are dropped and journalled, never queued without bound.

Both survive a restart through the journal: `restore` reads back who acknowledged what and
which alerts were already offered to the webhook, so neither is lost nor sent twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.agent.config import Webhook
from gateway.agent.journal import Journal

LOG = logging.getLogger("gerbang.agent.webhook")
SIGNATURE_HEADER = "Gerbang-Signature"
DELIVERY_HEADER = "Gerbang-Delivery"
KEPT_ALERTS = 10_000
MAX_IN_FLIGHT = 100
WEBHOOK_CLIENT = "webhook"


def alert_id(alert: dict[str, Any]) -> str:
    """An alert's id: the last day of its window, the window's length and the kecamatan."""
    return f"{alert['day']}/{alert['window_days']}/{alert['area']}"


def sign(secret: bytes, body: bytes, at: int) -> str:
    """The signature header's value for `body` sent at unix time `at`."""
    mac = hmac.new(secret, str(at).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """A receiver's check of `header` (for tests and for receivers written in Python)."""
    parts = dict(p.partition("=")[::2] for p in header.split(","))
    try:
        at = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, at), header)


@dataclass(frozen=True)
class Sent:
    """An alert as sent to one client, with the answer that released it."""

    client: str
    alert: dict[str, Any]
    request_id: str
    audit_entry: int


class AlertBook:
    """The alerts sent to each client (the latest `KEPT_ALERTS`), for acknowledgement, and
    who acknowledged them, so that the same alert sent again shows as seen."""

    def __init__(self) -> None:
        self._sent: OrderedDict[tuple[str, str], Sent] = OrderedDict()
        self._acks: dict[tuple[str, str], dict[str, Any]] = {}

    def restore(self, entries: Iterable[dict[str, Any]]) -> int:
        """The acknowledgements the journal holds (the latest `KEPT_ALERTS`); how many."""
        acks: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        for e in entries:
            if e.get("operation") != "acknowledge" or e.get("status") != 200:
                continue
            ident, client = (e.get("request") or {}).get("alert"), e.get("client")
            if not isinstance(ident, str) or not isinstance(client, str):
                continue
            acks[(client, ident)] = {"by": (e.get("user") or {}).get("sub"), "at": e.get("time")}
            acks.move_to_end((client, ident))
            if len(acks) > KEPT_ALERTS:
                acks.popitem(last=False)
        self._acks.update(acks)
        return len(acks)

    def acknowledged(self, client: str, ident: str) -> dict[str, Any] | None:
        return self._acks.get((client, ident))

    def acknowledge(self, client: str, ident: str, by: str | None, at: str) -> None:
        self._acks[(client, ident)] = {"by": by, "at": at}

    def add(self, sent: Sent) -> None:
        key = (sent.client, alert_id(sent.alert))
        self._sent[key] = sent
        self._sent.move_to_end(key)
        while len(self._sent) > KEPT_ALERTS:
            self._acks.pop(self._sent.popitem(last=False)[0], None)

    def get(self, client: str, ident: str) -> Sent | None:
        return self._sent.get((client, ident))


class WebhookSender:
    """Delivers each alert in its own task: signed, retried with backoff, journalled."""

    def __init__(self, hook: Webhook, journal: Journal) -> None:
        self.hook = hook
        self.journal = journal
        self._tasks: set[asyncio.Task[None]] = set()
        self._offered: OrderedDict[str, None] = OrderedDict()  # each alert is delivered once
        self._http = httpx.AsyncClient(timeout=hook.timeout_seconds, follow_redirects=False)

    def restore(self, entries: Iterable[dict[str, Any]]) -> int:
        """The alerts the journal says were offered before (delivered, given up or dropped):
        not offered again after a restart. Returns how many."""
        for e in entries:
            if e.get("client") == WEBHOOK_CLIENT and e.get("operation") == "webhook":
                ident = (e.get("request") or {}).get("alert")
                if isinstance(ident, str):
                    self._remember(ident)
        return len(self._offered)

    def _remember(self, ident: str) -> None:
        self._offered[ident] = None
        self._offered.move_to_end(ident)
        while len(self._offered) > KEPT_ALERTS:
            self._offered.popitem(last=False)

    def offer(self, payload: dict[str, Any]) -> None:
        """Start the delivery and return at once; drop it (journalled) when too many wait. An
        alert already offered (a stream watched again) is not delivered twice."""
        ident = alert_id(payload["alert"])
        if ident in self._offered:
            return
        self._remember(ident)
        if len(self._tasks) >= MAX_IN_FLIGHT:
            LOG.warning("webhook: %d deliveries in flight, alert %s dropped", MAX_IN_FLIGHT, ident)
            self._spawn(self._record(ident, 0, 0, "dropped: too many deliveries in flight"))
            return
        self._spawn(self._deliver(ident, payload))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, ident: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        status, detail = 0, ""
        for attempt in range(1, self.hook.attempts + 1):
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self.hook.secret, body, int(time.time())),
                DELIVERY_HEADER: ident,
            }
            try:
                r = await self._http.post(self.hook.url, content=body, headers=headers)
                status, detail = r.status_code, f"HTTP {r.status_code}"
                if 200 <= r.status_code < 300:
                    await self._record(ident, status, attempt, "delivered")
                    return
            except httpx.HTTPError as e:
                status, detail = 0, type(e).__name__
            if attempt < self.hook.attempts:
                await asyncio.sleep(self.hook.backoff_seconds * 2 ** (attempt - 1))
        LOG.warning("webhook: alert %s not delivered after %d attempts", ident, self.hook.attempts)
        await self._record(ident, status, self.hook.attempts, f"gave up: {detail}")

    async def _record(self, ident: str, status: int, attempts: int, detail: str) -> None:
        await self.journal.record(
            client=WEBHOOK_CLIENT,
            user=None,
            operation="webhook",
            request={"alert": ident, "attempts": attempts},
            status=status,
            detail=detail,
        )

    async def settle(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the deliveries in flight (before `close`)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()
