"""The steps between authentication and record: decide, spend, plan, fan out.

And the requests built from them: a query, Capabilities, a stream's opening and each of
its ticks. Each runs inside `Pipeline.run`, which writes the audit entry whatever happens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable

from google.protobuf.message import Message

from gateway.audit.releases import BudgetExhausted as LedgerBudgetExhausted
from gateway.audit.releases import ReleaseCharge
from gateway.errors import PolicyDenied as PolicyDeniedError
from gateway.protocol import model
from gateway.protocol.capabilities import describe
from gateway.protocol.catalog import Dataset
from gateway.protocol.evidence import RequestAuth
from gateway.protocol.model import InvalidQuery
from gateway.protocol.observability import POLICY_DECISION
from gateway.protocol.planning import narrow, policy_input, row_filters
from gateway.protocol.release import PrivacyBudget, data_periods
from gateway.service.pipeline import Pipeline, StreamGrant, registry_of
from gateway.service.recording import Outcome
from gateway.service.refusals import (
    BudgetExhausted,
    NotReady,
    ObligationsInapplicable,
    PolicyDenied,
    PolicyUnavailable,
    PreconditionViolation,
)
from gateway.service.releasing import charge_release, privacy_message
from gerbang.v1 import query_pb2


async def query(
    p: Pipeline,
    request: Message,
    build: Callable[[], model.Query],
    auth: query_pb2.RequestAuth | None,
    outcome: Outcome,
) -> query_pb2.QueryResponse:
    """One query: admit, authenticate, then decide, spend, plan and fan out."""
    now = dt.datetime.now(dt.UTC)
    q, dataset = p.admit(request, build, outcome)
    signed = p.authenticate(auth, q, outcome, now)
    p.within_limits(q, outcome)
    return await answer(p, q, dataset, signed, outcome, now)


async def open_stream(
    p: Pipeline,
    request: Message,
    build: Callable[[], model.Query],
    auth: query_pb2.RequestAuth | None,
    outcome: Outcome,
    lifetime: dt.timedelta,
) -> StreamGrant:
    """A stream's opening: admitted and authenticated once, its nonce claimed with its own
    entry; each day is then decided, charged and recorded on its own (`tick`)."""
    now = dt.datetime.now(dt.UTC)
    q, dataset = p.admit(request, build, outcome)
    signed = p.authenticate(auth, q, outcome, now)
    p.within_limits(q, outcome)
    lifetime = p.stream_lifetime(outcome.caller, lifetime)
    outcome.kind = "stream_open"
    outcome.decision = "allow"
    outcome.reasons = (
        f"stream opened until {(now + lifetime).strftime('%Y-%m-%dT%H:%M:%SZ')}; each day "
        "is decided and recorded on its own",
    )
    return p.grant(q, dataset, signed, outcome, now, lifetime)


async def tick(
    p: Pipeline, grant: StreamGrant, q: model.Query, outcome: Outcome
) -> query_pb2.QueryResponse:
    """One release of a stream, re-checked first: lifetime and key here; purpose, policy
    revision and budget by its own decision and charge."""
    now = dt.datetime.now(dt.UTC)
    p.describe(outcome, q)
    p.recheck(grant, outcome, now)
    return await answer(p, q, grant.dataset, grant.auth, outcome, now)


async def answer(
    p: Pipeline,
    query: model.Query,
    dataset: Dataset,
    auth: RequestAuth,
    outcome: Outcome,
    now: dt.datetime,
) -> query_pb2.QueryResponse:
    """Decide, spend any privacy budget, plan, fan the plans out, collect sealed answers."""
    t0 = time.perf_counter()
    outcome.user_commitment = auth.user_commitment
    decision = await p.engine.decide(
        policy_input(outcome.caller, query, now, user_committed=bool(auth.user_commitment))
    )
    POLICY_DECISION.labels(p.engine_name).observe(time.perf_counter() - t0)
    outcome.revision = decision.revision
    outcome.reasons = tuple(decision.reasons)
    if decision.failed:
        # No decision was made (engine down, late, untrusted): an outage, not a denial.
        raise PolicyUnavailable(
            f"policy decision point unavailable; nothing released: {decision.reasons[0]}",
            reasons=decision.reasons,
        )
    if not decision.allow:
        denied = PolicyDeniedError(decision.reasons)
        raise PolicyDenied(f"denied by policy: {denied}", reasons=decision.reasons)
    outcome.decision = "allow"
    ob = decision.obligations
    outcome.retention_days = ob.retention_days
    try:
        extra = row_filters(dataset, ob.row_filters)
        adapters = p.catalog.adapters.get(query.dataset, ())
        plans = [
            narrow(
                query,
                fields=ob.fields,
                extra_filters=extra,
                aggregate_only=ob.aggregate_only,
                max_rows=ob.max_rows,
                min_cell_count=ob.min_cell_count,
                request_id=outcome.request_id,
                adapter_id=a,
                policy_revision=decision.revision,
                now=now,
                request_hash=outcome.request_hash,
                caller=outcome.caller,
                caller_hpke_public_key=auth.hpke_public_key,
                epsilon=ob.epsilon,
                case_binding=ob.case_binding,
            )
            for a in adapters
        ]
    except InvalidQuery as e:
        raise ObligationsInapplicable(f"cannot apply the policy's obligations: {e}") from e
    outcome.fields_granted = plans[0].fields if plans else ()
    charge = None
    if ob.epsilon is not None and plans:
        plans, charge = await _charge(p, plans, outcome, now)
    outcome.adapters = tuple(adapters)
    results = await p.fan_out(plans, outcome)
    response = query_pb2.QueryResponse(
        request_id=outcome.request_id,
        results=results,
        granted_fields=list(outcome.fields_granted),
        policy_revision=decision.revision,
    )
    if charge is not None:
        response.privacy_budget_remaining = charge.remaining
        response.privacy_budget_period = charge.period_range
        response.privacy.CopyFrom(privacy_message(plans[0], charge))
    return response


async def _charge(
    p: Pipeline, plans: list[model.QueryPlan], outcome: Outcome, now: dt.datetime
) -> tuple[list[model.QueryPlan], ReleaseCharge]:
    """Charge the release to its privacy accounts before any plan is signed (ADR 0009).

    Charged even if an adapter then fails: the budget errs on the side of the persons in
    the data. Over budget is a denial, audited like any other.
    """
    try:
        return await charge_release(p.ledger, p.privacy, plans, caller=outcome.caller, now=now)
    except InvalidQuery as e:
        raise ObligationsInapplicable(f"cannot account for the release: {e}") from e
    except LedgerBudgetExhausted as e:
        raise BudgetExhausted(f"denied by policy: {e}", reasons=e.reasons) from e


async def capabilities(p: Pipeline, outcome: Outcome) -> query_pb2.CapabilitiesResponse:
    """What the caller may ask, from the registry of the revision in force."""
    bundle = await p.bundle_in_force()
    if bundle is None:
        raise NotReady(
            "kebijakan sedang dimuat ulang; coba lagi / the policy is being reloaded; retry",
            preconditions=(
                PreconditionViolation(
                    "POLICY_REVISION", p.engine.revision, "the engine's bundle is not readable"
                ),
            ),
        )
    outcome.revision = bundle.revision
    now = dt.datetime.now(dt.UTC)

    def left(purpose: str, budget: PrivacyBudget) -> tuple[str, float]:
        (current,) = data_periods(now, now + dt.timedelta(seconds=1), budget.period)
        return current, p.ledger.remaining(outcome.caller, purpose, current, budget)

    try:
        response = await asyncio.to_thread(describe, registry_of(bundle), outcome.caller, left)
    except PolicyDeniedError as e:
        raise PolicyDenied(f"denied by policy: {e}", reasons=e.reasons) from e
    outcome.decision = "allow"
    response.request_id = outcome.request_id
    response.policy_revision = bundle.revision
    return response
