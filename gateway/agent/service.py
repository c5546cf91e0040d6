"""The agent's one path to the gateway, and what it makes of each answer.

Like MLServer's DataPlane, this holds the request logic the HTTP routes only translate: every
operation goes through `AgentService.answers`, the single function that calls the client
library (signing, verifying, opening, merging and the analytics method all happen there). Each
answer becomes an `Answer`: the structured value, a flat table for CSV, which column holds H3
cells for GeoJSON, and the facts every response must name (period, mechanism, epsilon, k,
receipt). Evidence bundles are kept per request id for the client that asked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.agent import asks
from gateway.analytics.index import AreaIndex
from gateway.analytics.tally import Tally, reported
from gateway.client import GerbangClient, QueryResult
from gateway.client.analytics import AnalyticsClient
from gateway.protocol.model import Bucket, Op, QueryPlan, time_text

TIME_FIELD = "occurred_at"
# Coverage of the interval given for each noisy count.
INTERVAL_LEVEL = 0.9
# Results kept in memory for their evidence bundle, per agent process.
KEPT_RESULTS = 1000


@dataclass(frozen=True)
class Answer:
    operation: str
    result: QueryResult
    value: Any  # JSON-ready
    table: list[dict[str, Any]]  # flat rows, for CSV
    cell_column: str | None = None  # the table column holding H3 cells, for GeoJSON
    day: dt.date | None = None  # a warning stream's day
    extra: dict[str, Any] | None = None  # more members of the JSON answer (the index's series)

    def facts(self) -> dict[str, Any]:
        """What every response names: the period, the privacy mechanism and the receipt."""
        r = self.result
        return {
            "operation": self.operation,
            "request_id": r.request_id,
            "period": period(r.plans),
            "privacy": privacy(r.plans) | release(r),
            "audit_receipt": {
                "leaf_index": r.receipt.leaf_index,
                "entry_hash": r.receipt.entry_hash.hex(),
                "leaf_hash": r.receipt.leaf_hash.hex(),
            },
            "adapters": list(r.adapters),
            "policy_revision": r.policy_revision,
            "granted_fields": list(r.granted_fields),
            "suppressed_groups": r.suppressed_groups,
            "evidence": f"/v1/evidence/{r.request_id}",
        }


def period(plans: tuple[QueryPlan, ...]) -> dict[str, str | None]:
    """The time window the signed plans read: their bounds on the incident time."""
    starts = [
        v
        for p in plans
        for f in p.filters
        if f.field == TIME_FIELD and f.op in (Op.GE, Op.GT)
        for v in f.values
        if isinstance(v, dt.datetime)
    ]
    ends = [
        v
        for p in plans
        for f in p.filters
        if f.field == TIME_FIELD and f.op in (Op.LT, Op.LE)
        for v in f.values
        if isinstance(v, dt.datetime)
    ]
    return {
        "start": time_text(max(starts)) if starts else None,
        "end": time_text(min(ends)) if ends else None,
    }


def privacy(plans: tuple[QueryPlan, ...]) -> dict[str, Any]:
    epsilons = {p.epsilon for p in plans if p.epsilon is not None}
    return {
        "mechanism": "discrete_laplace" if epsilons else "exact",
        "epsilon": min(epsilons) if epsilons else None,
        "k": min((p.min_cell_count for p in plans), default=None),
        "interval_level": INTERVAL_LEVEL if epsilons else None,
    }


def release(r: QueryResult) -> dict[str, Any]:
    """What the release cost and what is left (docs/adr/0009): charged, or held (the same
    noise as an earlier identical question, free), on which data periods."""
    p = r.privacy
    if p is None:
        return {"budget_period": None, "budget_remaining": None}
    return {
        "budget_period": p.periods,
        "budget_remaining": p.remaining,
        "budget_spent": p.spent,
        "budget_limit": p.limit,
        "epsilon_charged": p.epsilon_charged,
        "held": p.held,
        "held_until": None if p.held_until is None else time_text(p.held_until),
    }


def noise_margin(plans: tuple[QueryPlan, ...]) -> float:
    """Half-width of a conservative INTERVAL_LEVEL interval of a merged noisy count: each of
    the n parts adds discrete Laplace noise of scale 1/epsilon, and by a union bound every
    part stays within b*ln(n/alpha) with probability at least 1 - alpha."""
    noisy = [p.epsilon for p in plans if p.epsilon is not None]
    if not noisy:
        return 0.0
    n = len(noisy)
    alpha = 1 - INTERVAL_LEVEL
    return sum((1 / e) * math.log(n / alpha) for e in noisy)


def interval(count: int, margin: float) -> tuple[int, int]:
    return max(0, math.floor(count - margin)), math.ceil(count + margin)


def plain(value: Any) -> Any:
    """A method's output as JSON: dataclasses as objects, dates as ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return time_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out |= {f"{k}_{kk}": vv for kk, vv in v.items()}
        else:
            out[k] = v
    return out


def _cell_column(result: QueryResult) -> str | None:
    """The column of H3 cells, when the signed plans group by an H3 bucket (named as the
    adapters name bucketed dimensions: field_bucket)."""
    for plan in result.plans:
        for g in plan.aggregation.group_by if plan.aggregation else ():
            if g.bucket is Bucket.H3 and f"{g.field}_{g.bucket}" in result.columns:
                return f"{g.field}_{g.bucket}"
    return None


def _answer(ask: asks.Ask, value: Any, result: QueryResult, day: dt.date | None = None) -> Answer:
    """Shape a method's output for JSON, CSV and GeoJSON."""
    margin = noise_margin(result.plans)
    match ask:
        case asks.QueryAsk():
            rows = [plain(r) for r in result.rows]
            return Answer("query", result, rows, rows, _cell_column(result))
        case asks.HeatmapAsk():
            table = []
            for cell, n in sorted(value.items()):
                low, high = interval(n, margin)
                table.append({"cell": cell, "count": n, "low": low, "high": high})
            return Answer("heatmap", result, table, table, "cell")
        case asks.PatternsAsk(kind="hour_weekday"):
            table = [
                {"kecamatan": area, "weekday": w + 1, "hour": h, "count": n}
                for area, matrix in sorted(value.items())
                for w, hours in enumerate(matrix)
                for h, n in enumerate(hours)
            ]
            return Answer("patterns", result, plain(value), table)
        case asks.PatternsAsk():
            table = [
                {"kecamatan": area} | plain(s)
                for area, shares in sorted(value.items())
                for s in shares
            ]
            return Answer("patterns", result, plain(value), table)
        case asks.RiskScoresAsk(unit=unit):
            table = [_flat(plain(s)) for s in value]
            return Answer(
                "risk-scores", result, plain(value), table, "unit" if unit == "h3" else None
            )
        case asks.PatrolPlanAsk():
            plan, scores = value
            table = [plain(a) for a in plan.assignments]
            doc = plain(plan) | {"scores": plain(scores)}
            return Answer("patrol-plan", result, doc, table, "cell")
        case asks.SecurityIndexAsk():
            table = [_flat(plain(a)) for a in value]
            return Answer("security-index", result, plain(value), table)
        case asks.WatchWarningsAsk():
            table = [plain(a) for a in value]
            doc = {"day": day.isoformat() if day else None, "alerts": table}
            return Answer("watch-warnings", result, doc, table, None, day)


def monthly_series(counts: list[Tally], rows: list[AreaIndex]) -> list[dict[str, Any]]:
    """Reported incidents per month for each kecamatan, kota and the city, summed from the
    noisy monthly counts the index was computed from (post-processing: no further budget)."""
    kota_of = {a.name: a.kota for a in rows if a.level == "kecamatan"}
    months: set[str] = set()
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for t in reported(counts):
        if t.when is None or t.area not in kota_of:
            continue
        month = t.when.strftime("%Y-%m")
        months.add(month)
        keys = [("kecamatan", t.area), ("city", "city")]
        if (kota := kota_of[t.area]) is not None:
            keys.append(("kota", kota))
        for key in keys:
            by_month = sums.setdefault(key, {})
            by_month[month] = by_month.get(month, 0) + t.count
    order = sorted(months)
    return [
        {"level": level, "name": name, "months": order, "incidents": [m.get(x, 0) for x in order]}
        for (level, name), m in sorted(sums.items())
    ]


class AgentService:
    def __init__(self, client: GerbangClient, evidence_dir: Path) -> None:
        self.client = client
        self.analytics = AnalyticsClient(client)
        self.evidence_dir = evidence_dir
        evidence_dir.mkdir(parents=True, exist_ok=True)
        self._kept: OrderedDict[str, tuple[str, QueryResult]] = OrderedDict()

    async def answers(
        self, ask: asks.Ask, commitment: bytes | None
    ) -> AsyncGenerator[Answer, None]:
        """The one place the agent calls the gateway: one answer, or a stream of them."""
        a = self.analytics
        user = commitment
        match ask:
            case asks.QueryAsk(query=q):
                result = await self.client.query(q, user=user)
                yield _answer(ask, None, result)
            case asks.HeatmapAsk(scope=s, resolution=res):
                heat = await a.heatmap(s, resolution=res, user=user)
                yield _answer(ask, heat.value, heat.result)
            case asks.PatternsAsk(scope=s, kind="modus"):
                modus = await a.modus_patterns(s, user=user)
                yield _answer(ask, modus.value, modus.result)
            case asks.PatternsAsk(scope=s):
                times = await a.time_patterns(s, user=user)
                yield _answer(ask, times.value, times.result)
            case asks.RiskScoresAsk(scope=s, unit=unit, resolution=res):
                risk = await a.risk_scores(s, unit, res, user=user)
                yield _answer(ask, risk.value, risk.result)
            case asks.PatrolPlanAsk(scope=s, units=n, cap_per_area=cap, resolution=res):
                patrol = await a.patrol_plan(
                    s, units=n, cap_per_area=cap, resolution=res, previous=ask.previous, user=user
                )
                yield _answer(ask, patrol.value, patrol.result)
            case asks.SecurityIndexAsk(scope=s):
                index = await a.security_index(s, user=user)
                answer = _answer(ask, index.value, index.result)
                series = monthly_series(index.counts, index.value)
                yield dataclasses.replace(answer, extra={"series": series})
            case asks.WatchWarningsAsk(scope=s, interval=every):
                async for day in a.watch_warnings(s, every, user=user):
                    yield _answer(ask, day.alerts, day.result, day.day)

    async def capabilities(self, commitment: bytes | None) -> dict[str, Any]:
        """What this organisation may ask, from the live policy in force at the gateway (the
        Capabilities RPC names the calling system; the person is in the agent's journal)."""
        caps = await self.client.capabilities()
        doc: dict[str, Any] = plain(caps)
        return doc

    def keep(self, client_name: str, answer: Answer) -> None:
        """Keep the answer's result so its client can fetch the evidence bundle."""
        self._kept[answer.result.request_id] = (client_name, answer.result)
        self._kept.move_to_end(answer.result.request_id)
        while len(self._kept) > KEPT_RESULTS:
            self._kept.popitem(last=False)

    async def evidence(self, client_name: str, request_id: str) -> dict[str, Any] | None:
        """The full bundle (with the audit inclusion proof) of a result this client received;
        None when the agent holds no such result for it. Written to disk once built."""
        if not request_id.isalnum():  # the gateway's ids are hex; nothing else names a file
            return None
        path = self.evidence_dir / f"{request_id}.json"
        owner = path.with_suffix(".client")
        if path.exists() and owner.exists() and owner.read_text() == client_name:  # kept
            bundle: dict[str, Any] = json.loads(path.read_text())
            return bundle
        kept = self._kept.get(request_id)
        if kept is None or kept[0] != client_name:
            return None
        bundle = await self.client.evidence(kept[1])
        owner.write_text(client_name)
        path.write_text(json.dumps(bundle, sort_keys=True))
        return bundle
