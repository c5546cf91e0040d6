"""The request frame and its one durable commit (issue 12, items 1 and 3).

A real SQLite audit store and the real group-commit writer; the steps are plain
coroutines, since the frame's promise holds whatever they do: every request is exactly
one entry, written before anything leaves, and the nonce claim is in the same commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, AuditWrite, AuditWriter, NonceClaim
from gateway.errors import AuditIntegrityError
from gateway.oversight.verify import verify_log
from gateway.protocol.audit_entry import AuditRecord
from gateway.protocol.observability import STORE_COMMITS
from gateway.service.recording import Outcome, Recorder
from gateway.service.refusals import AuditUnavailable, Internal, PolicyDenied, Unauthenticated
from gateway.service.replay import ReplayGuard

CALLER = "spiffe://gerbang.jakarta.go.id/dishub/atcs"


def commits(kind: str) -> float:
    return float(STORE_COMMITS.labels(kind)._value.get())


def claim(nonce: str) -> NonceClaim:
    return NonceClaim(CALLER, nonce, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))


@pytest.fixture
async def frame(tmp_path: Path) -> AsyncIterator[tuple[Recorder, AuditStore]]:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    writer = AuditWriter(store)
    writer.start()
    replay = ReplayGuard(store)
    yield Recorder(writer, replay, None), store
    await writer.stop()
    store.close()


def last(store: AuditStore) -> dict[str, object]:
    size = store.head().size
    return store.entries(size - 1, size)[0].fields()


async def test_answer_is_released_after_its_entry(frame: tuple[Recorder, AuditStore]) -> None:
    recorder, store = frame

    async def steps(o: Outcome) -> str:
        o.decision = "allow"
        return "answer"

    recorded = await recorder.run(CALLER, steps, service="S", method="M")
    assert recorded.value == "answer"
    assert recorded.entry.index == store.head().size - 1
    assert last(store)["decision"] == "allow"
    assert last(store)["status"] == "OK"


async def test_refusal_is_one_entry_with_its_status(frame: tuple[Recorder, AuditStore]) -> None:
    recorder, store = frame

    async def steps(o: Outcome) -> str:
        raise PolicyDenied("denied by policy: no", reasons=("no",))

    with pytest.raises(PolicyDenied) as refused:
        await recorder.run(CALLER, steps, service="S", method="M")
    assert refused.value.audit_index == store.head().size - 1
    assert refused.value.request_id == last(store)["request_id"]
    assert last(store)["status"] == "PERMISSION_DENIED"
    assert last(store)["reasons"] == ["no"]


async def test_unexpected_failure_is_decision_error_then_internal(
    frame: tuple[Recorder, AuditStore],
) -> None:
    recorder, store = frame
    before = store.head().size

    async def steps(o: Outcome) -> str:
        o.decision = "allow"  # a failure after the decision still releases nothing
        raise ZeroDivisionError("a secret value 42 in the text")

    with pytest.raises(Internal) as refused:
        await recorder.run(CALLER, steps, service="S", method="M")
    assert store.head().size == before + 1
    entry = last(store)
    assert entry["decision"] == "error"
    assert entry["status"] == "INTERNAL"
    # The exception's type is named; its text (which may hold personal data) is not.
    assert "ZeroDivisionError" in refused.value.message
    assert "42" not in refused.value.message
    assert not any("42" in str(r) for r in entry["reasons"])  # type: ignore[attr-defined]
    assert refused.value.audit_index == before


async def test_cancelled_request_is_still_one_entry(frame: tuple[Recorder, AuditStore]) -> None:
    recorder, store = frame
    before = store.head().size
    started = asyncio.Event()

    async def steps(o: Outcome) -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    task = asyncio.create_task(recorder.run(CALLER, steps, service="S", method="M"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.head().size == before + 1
    assert last(store)["status"] == "CANCELLED"


async def test_failed_append_releases_nothing(tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'never-created.db'}")  # appends fail
    writer = AuditWriter(store)
    writer.start()
    recorder = Recorder(writer, ReplayGuard(store), None)

    async def steps(o: Outcome) -> str:
        o.decision = "allow"
        return "answer that must not leave"

    try:
        with pytest.raises(AuditUnavailable) as refused:
            await recorder.run(CALLER, steps, service="S", method="M")
        assert not isinstance(refused.value, AuditIntegrityError)  # an outage, not tampering
        assert refused.value.status == "UNAVAILABLE"
    finally:
        await writer.stop()
        store.close()


async def test_nonce_and_entry_are_one_commit(frame: tuple[Recorder, AuditStore]) -> None:
    recorder, store = frame
    entries, nonces = commits("entries"), commits("nonces")

    async def steps(o: Outcome) -> str:
        o.nonce = claim("n-1")
        recorder.replay.reserve(o.nonce)
        o.decision = "allow"
        return "answer"

    await recorder.run(CALLER, steps, service="S", method="M")
    assert commits("entries") == entries + 1
    assert commits("nonces") == nonces  # the claim rode on the entry's commit
    # The claim is durable: claimed again, the nonce is not new.
    assert store.claim_nonces([(CALLER, "n-1", claim("n-1").expires_at)]) == [False]


async def test_replay_found_at_commit_is_refused_and_audited(
    frame: tuple[Recorder, AuditStore],
) -> None:
    """Another gateway process claimed the nonce first: this process's in-memory cache
    cannot know; the commit finds it, the entry records the replay, nothing is released."""
    recorder, store = frame
    store.claim_nonces([(CALLER, "n-2", claim("n-2").expires_at)])  # the other process
    before = store.head().size

    async def steps(o: Outcome) -> str:
        o.nonce = claim("n-2")
        recorder.replay.reserve(o.nonce)
        o.decision = "allow"
        o.revision = "rev-1"
        return "answer that must not leave"

    with pytest.raises(Unauthenticated) as refused:
        await recorder.run(CALLER, steps, service="S", method="M")
    assert store.head().size == before + 1
    entry = last(store)
    assert entry["status"] == "UNAUTHENTICATED"
    assert entry["decision"] == "deny"
    assert "replayed request" in entry["reasons"][0]  # type: ignore[index]
    assert refused.value.audit_index == before
    # And in this process the nonce is now refused before any step runs.
    with pytest.raises(Exception, match="replayed"):
        recorder.replay.reserve(claim("n-2"))


def test_append_claimed_batch_is_one_transaction(store_url: str) -> None:
    store = AuditStore(store_url)
    store.create()
    try:
        before = commits("entries")

        def rec(i: int) -> AuditRecord:
            return AuditRecord(
                time=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
                kind="query",
                request_id=f"r{i}",
                caller=CALLER,
                decision="allow",
                status="OK",
            )

        replayed = AuditRecord(
            time=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
            kind="query",
            request_id="r-replayed",
            caller=CALLER,
            decision="deny",
            status="UNAUTHENTICATED",
        )
        writes = [AuditWrite(rec(i), claim(f"b-{i % 3}"), replayed) for i in range(5)]
        results = store.append_claimed(writes)
        assert commits("entries") == before + 1
        assert [fresh for _, fresh in results] == [True, True, True, False, False]
        ids = [store.entries(e.index, e.index + 1)[0].fields()["request_id"] for e, _ in results]
        assert ids == ["r0", "r1", "r2", "r-replayed", "r-replayed"]
        assert verify_log(store.scan(), store.head()).size == 5
    finally:
        store.close()


def test_a_long_refusal_fits_in_grpc_trailers() -> None:
    """gRPC clients drop trailers over 8 KiB: the refusal would arrive without its details."""
    from gateway.service.status import to_status

    refusal = PolicyDenied("denied by policy: " + "x" * 20_000, reasons=["r" * 300] * 100)
    refusal.request_id, refusal.audit_index = "ab" * 16, 7
    status = to_status(refusal)
    size = sum(len(k) + len(v) for k, v in status.trailing_metadata) + len(status.details)
    assert size < 8 * 1024
    assert status.details.endswith("[request " + "ab" * 16 + ", audit entry 7]")
