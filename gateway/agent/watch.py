"""The agent's standing warning stream: alerts reach the webhook with no console open.

`[watch]` in the agent's TOML holds what a client would POST to `/v1/watch-warnings` (purpose,
legal basis, areas, categories, start, end, pace). The agent opens that stream itself at
start, through the same `AgentService.answers` path as every client, signed as the
organisation's system; where the purpose requires the person behind each request (the
policy's `requires_user`), `user` names a service account, committed to like any end user
(issuer `urn:gerbang:agent:<identity>:service`) so the journal can open it.

The stream is renewed when the gateway ends it at the caller's maximum lifetime
(`StreamExpired`), from the day after the last one it released, so no day is released twice
by the watcher. Any other failure is retried after a backoff that doubles up to
`max_retry_seconds` and resets once a stream releases a day; two streams are never opened
less than `MIN_RENEW_SECONDS` apart. With an `end`, the watcher stops when the stream reaches
it. Each opening, renewal and failure is a journal line (client `watch`); each alert is offered
to the webhook, which delivers an alert id once whichever stream (a console's or this one)
carried it. The last `watch-end` line (renewing, retrying, stopped, ended) says where the watch
was: a restarted agent with the same `[watch]` carries on from there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any

from gateway.agent import asks, problems
from gateway.agent.alerts import WebhookSender, alert_id
from gateway.agent.auth import EndUser, user_commitment
from gateway.agent.config import Watch
from gateway.agent.journal import Journal
from gateway.agent.service import AgentService
from gateway.analytics import operations as ops
from gateway.client import StreamExpired
from gateway.errors import GerbangError

LOG = logging.getLogger("gerbang.agent.watch")
WATCH_CLIENT = "watch"
MIN_RENEW_SECONDS = 1.0


def service_user(identity: str, name: str, commitment_key: bytes) -> EndUser:
    """The watcher's service account as an end user of the organisation's own issuer."""
    issuer = f"urn:gerbang:agent:{identity}:service"
    return EndUser(issuer, name, user_commitment(commitment_key, issuer, name))


class Watcher:
    def __init__(
        self,
        watch: Watch,
        service: AgentService,
        webhook: WebhookSender,
        journal: Journal,
        user: EndUser | None,
    ) -> None:
        self.watch = watch
        self.service = service
        self.webhook = webhook
        self.journal = journal
        self.user = user
        ask = asks.parse("watch-warnings", watch.body)  # checked at load: cannot fail here
        assert isinstance(ask, asks.WatchWarningsAsk)
        self.ask = ask
        start = ask.scope.start or ops.local_midnight(ops.local_day(dt.datetime.now(dt.UTC)))
        self.next_day = ops.local_day(start)  # the first day no stream of ours has released
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="gerbang-watch")

    def resume(self, entries: Iterable[dict[str, Any]]) -> None:
        """Carry on from where the journal says this same watch stood (the furthest `next_day`
        of its `watch-end` lines), so a restart does not release its days again."""
        for e in entries:
            request = e.get("request") or {}
            if e.get("client") == WATCH_CLIENT and request.get("watch") == self.watch.body:
                try:
                    day = dt.date.fromisoformat(str(request.get("next_day")))
                except ValueError:
                    continue
                self.next_day = max(self.next_day, day)

    async def stop(self) -> None:
        """Cancel the stream (the gateway sees the call cancelled), wait for the task, and
        journal where it stopped."""
        if self._task is not None:
            running = not self._task.done()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            if running:
                await self._record(200, "stopped: the agent is shutting down")

    def _done(self) -> bool:
        end = self.ask.scope.end
        return end is not None and ops.local_midnight(self.next_day) >= end

    async def run(self) -> None:
        delay = self.watch.retry_seconds
        while not self._done():
            opened = time.monotonic()
            released, outcome = await self._one_stream()
            if outcome is None:  # the gateway ended the stream: the configured end was reached
                break
            if released:
                delay = self.watch.retry_seconds
            if isinstance(outcome, StreamExpired):
                # Expected at the caller's lifetime: renewed at once, but never two openings
                # less than MIN_RENEW_SECONDS apart.
                wait = max(0.0, MIN_RENEW_SECONDS - (time.monotonic() - opened))
                await self._record(outcome, "renewing: the stream reached its lifetime")
            else:
                wait = delay
                delay = min(delay * 2, self.watch.max_retry_seconds)
                await self._record(outcome, f"retrying in {wait:g} s")
            await asyncio.sleep(wait)
        await self._record(200, "ended: the configured end was reached")

    async def _one_stream(self) -> tuple[int, Exception | None]:
        """Open one stream from `next_day` and offer its alerts until it ends; the days it
        released and how it ended (None: at the configured end)."""
        scope = dataclasses.replace(self.ask.scope, start=ops.local_midnight(self.next_day))
        ask = dataclasses.replace(self.ask, scope=scope)
        start = ops.local_midnight(self.next_day).astimezone(ops.WIB)
        body = self.watch.body | {"start": start.isoformat()}
        commitment = self.user.commitment if self.user else None
        stream = self.service.answers(ask, commitment)
        released = 0
        try:
            async for answer in stream:
                if released == 0:
                    await self.journal.record(
                        client=WATCH_CLIENT,
                        user=self.user,
                        operation="watch-warnings",
                        request=body,
                        status=200,
                        request_id=answer.result.request_id,
                        audit_entry=answer.result.receipt.leaf_index,
                    )
                released += 1
                self._publish(answer.facts() | {"result": answer.value})
                if answer.day is not None:
                    self.next_day = answer.day + dt.timedelta(days=1)
            return released, None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the watcher outlives any one failure
            if not isinstance(e, GerbangError | ValueError):
                LOG.exception("watch: unexpected error")
            return released, e
        finally:
            await stream.aclose()

    def _publish(self, doc: dict[str, Any]) -> None:
        facts = {k: v for k, v in doc.items() if k != "result"}
        for alert in doc["result"]["alerts"]:
            alert["id"] = alert_id(alert)
            self.webhook.offer(facts | {"alert": alert})

    async def _record(self, outcome: Exception | int, detail: str) -> None:
        """A journal line for the stream's end: its problem (status, request id, entry)."""
        if isinstance(outcome, int):
            status, request_id, entry = outcome, "", None
        else:
            problem = (
                problems.from_error(outcome)
                if isinstance(outcome, GerbangError | ValueError)
                else problems.internal(type(outcome).__name__)
            )
            status, request_id, entry = problem.status, problem.request_id, problem.audit_entry
            detail = f"{detail}: {problem.detail}"[:500]
            LOG.warning("watch: %s", detail)
        await self.journal.record(
            client=WATCH_CLIENT,
            user=self.user,
            operation="watch-end",
            request={"next_day": self.next_day.isoformat(), "watch": self.watch.body},
            status=status,
            request_id=request_id,
            audit_entry=entry,
            detail=detail,
        )
