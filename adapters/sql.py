"""Turn a gateway plan into one SQLAlchemy Core statement with bound parameters.

The plan's fields, filters and group-by dimensions are looked up as columns of
a known table; values are always bound parameters, never text in the SQL.
Aggregates are pushed down (GROUP BY); record-level queries are limited in SQL.
H3 cells of the virtual field `location` are grouped in SQL too. A table that stores the cell
of each row at the plan's resolution (a column with `info["h3_resolution"]`, as the reference
schema has for `H3_STORED_RESOLUTIONS`) is grouped by that indexed column, on any database.
Otherwise SQLite computes `h3_cell(lat, lon, resolution)` per row, a deterministic function
registered on each connection (`register_h3`), several times slower; PostgreSQL would need the
h3-pg extension, which is not assumed, so such plans are refused there. Both give the same
cells: the stored ones are `h3_cell` of the same lat/lon. Nothing here loads a table into
Python to filter it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
    union_all,
)

from gateway.protocol.catalog import LOCATION, Dataset, FieldType
from gateway.protocol.cells import cell_of
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import Bucket, CaseBinding, Filter, GroupBy, Measure, Op, QueryPlan
from gateway.protocol.spans import span_labels
from gateway.protocol.values import Scalar

COUNT: Final = "count"
# Reference geography: public, read under any purpose without a case (no personal field).
PUBLIC_TABLES: Final = frozenset({"areas"})
# Time buckets are in Jakarta local time (WIB, UTC+7, no daylight saving): an
# "hour of day" a city planner reads is a local hour. Stored times are UTC.
LOCAL_OFFSET_HOURS: Final = 7
_LOCAL: Final = dt.timedelta(hours=LOCAL_OFFSET_HOURS)
# At most this many calendar buckets are counted one SELECT each (`calendar_counts`); a longer
# window is grouped by the bucket's expression, as before.
MAX_CALENDAR_SELECTS: Final = 64


class PlanRefused(InvalidQuery):
    """The adapter will not run this plan: unsigned, expired, replayed, misaddressed,
    or against an obligation or the schema."""


def register_h3(dbapi_connection: Any, _record: Any = None) -> None:
    """Make `h3_cell(lat, lon, resolution)` callable in SQL on one SQLite connection."""
    dbapi_connection.create_function("h3_cell", 3, cell_of, deterministic=True)


def stored_h3_columns(table: Table) -> dict[int, Column[Any]]:
    """The columns of `table` that store each row's H3 cell, by resolution."""
    return {int(c.info["h3_resolution"]): c for c in table.columns if "h3_resolution" in c.info}


def h3_expression(table: Table, resolution: int, dialect: str) -> ColumnElement[Any]:
    """The H3 cell of each row's lat/lon at `resolution`: stored, or computed by the database."""
    if "lat" not in table.c or "lon" not in table.c:
        raise PlanRefused(f"dataset {table.name!r} has no lat/lon to place in H3 cells")
    stored = stored_h3_columns(table)
    if resolution in stored:
        return stored[resolution]
    if dialect != "sqlite":
        kept = ", ".join(str(r) for r in sorted(stored)) or "none"
        raise PlanRefused(
            f"H3 resolution {resolution} is not served on {dialect}: the table stores cells at "
            f"resolutions {kept}, and computing others needs the h3 extension (h3-pg) in the "
            "database, which this adapter does not use"
        )
    return func.h3_cell(table.c.lat, table.c.lon, literal(resolution))


def field_type(column_type: Any) -> FieldType | None:
    if isinstance(column_type, Boolean):
        return FieldType.BOOL
    if isinstance(column_type, Integer):
        return FieldType.INT
    if isinstance(column_type, Float | Numeric):
        return FieldType.DOUBLE
    if isinstance(column_type, DateTime | Date):
        return FieldType.TIME
    if isinstance(column_type, String):
        return FieldType.STRING
    return None


def describe(tables: Iterable[Table]) -> list[Dataset]:
    out = []
    for table in tables:
        # A stored H3 cell is `location` at one resolution, not a field of its own.
        fields = {
            c.name: t
            for c in table.columns
            if "h3_resolution" not in c.info and (t := field_type(c.type)) is not None
        }
        out.append(Dataset(table.name, fields))
    return out


def _bind(column: Any, value: Scalar) -> Scalar | dt.date:
    # The reference schema stores naive UTC datetimes; dates compare by day.
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
        if isinstance(column.type, Date) and not isinstance(column.type, DateTime):
            return value.date()
    return value


def _condition(table: Table, f: Filter) -> ColumnElement[bool]:
    col = table.c[f.field]
    vals = [_bind(col, v) for v in f.values]
    match f.op:
        case Op.EQ:
            return col == vals[0]
        case Op.NE:
            return col != vals[0]
        case Op.LT:
            return col < vals[0]
        case Op.LE:
            return col <= vals[0]
        case Op.GT:
            return col > vals[0]
        case Op.GE:
            return col >= vals[0]
        case Op.IN:
            return col.in_(vals)
        case Op.NOT_IN:
            return col.not_in(vals)


def bucket_expression(table: Table, field: str, bucket: Bucket, dialect: str) -> ColumnElement[Any]:
    """The SQL expression of a group-by dimension, in the database's own dialect.

    Buckets are local (WIB). Hours are 0-23, days of week ISO 1 (Monday) to 7
    (Sunday); day, week (its Monday) and month are ISO strings, so every database
    returns the same values.
    """
    col = table.c[field]
    if bucket is Bucket.NONE:
        return col
    if dialect == "sqlite":
        shift = f"+{LOCAL_OFFSET_HOURS} hours"
        match bucket:
            case Bucket.HOUR_OF_DAY:
                return cast(func.strftime("%H", col, shift), Integer)
            case Bucket.DAY_OF_WEEK:
                return (cast(func.strftime("%w", col, shift), Integer) + 6) % 7 + 1
            case Bucket.DAY:
                return func.date(col, shift)
            case Bucket.WEEK:
                return func.date(col, shift, "weekday 0", "-6 days")
            case Bucket.MONTH:
                return func.strftime("%Y-%m", col, shift)
    elif dialect == "postgresql":
        local = col + literal_column(f"interval '{LOCAL_OFFSET_HOURS} hours'")
        match bucket:
            case Bucket.HOUR_OF_DAY:
                return cast(func.extract("hour", local), Integer)
            case Bucket.DAY_OF_WEEK:
                return cast(func.extract("isodow", local), Integer)
            case Bucket.DAY:
                return func.to_char(local, "YYYY-MM-DD")
            case Bucket.WEEK:
                return func.to_char(func.date_trunc("week", local), "YYYY-MM-DD")
            case Bucket.MONTH:
                return func.to_char(local, "YYYY-MM")
    raise PlanRefused(f"bucket {bucket} is not supported on {dialect}")


def spans_expression(table: Table, g: GroupBy) -> ColumnElement[Any]:
    """Each row's span of a spans group-by (ADR 0032): a CASE on the stored time itself, its
    inner boundaries bound parameters, so no date is computed per row and the covering index
    still serves. The plan's window (its first and last boundaries, checked when the plan was
    built) keeps every row inside the spans, so the last span is the ELSE."""
    col = table.c[g.field]
    labels = span_labels(g.boundaries)
    inner = g.boundaries[1:-1]
    if not inner:
        return literal(labels[0])
    return case(
        *((col < _bind(col, b), labels[i]) for i, b in enumerate(inner)),
        else_=labels[-1],
    )


def _bucket_start(day: dt.date, bucket: Bucket) -> dt.date:
    if bucket is Bucket.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if bucket is Bucket.MONTH:
        return day.replace(day=1)
    return day


def _next_bucket(start: dt.date, bucket: Bucket) -> dt.date:
    if bucket is Bucket.WEEK:
        return start + dt.timedelta(days=7)
    if bucket is Bucket.MONTH:
        return (start + dt.timedelta(days=31)).replace(day=1)
    return start + dt.timedelta(days=1)


def _bucket_label(start: dt.date, bucket: Bucket) -> str:
    return start.strftime("%Y-%m") if bucket is Bucket.MONTH else start.isoformat()


def calendar_buckets(
    g: GroupBy, filters: Sequence[Filter], limit: int = MAX_CALENDAR_SELECTS
) -> list[tuple[str, dt.datetime]] | None:
    """The local (WIB) days, weeks or months that the plan's own bounds on `g.field` hold, as
    (label, start as a naive UTC instant), in order; None when a bound is missing or there are
    more than `limit`. The labels are those `bucket_expression` gives; the enumeration is the
    public calendar of `adapters.privacy`, from the plan, never from the data."""
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None
    for f in filters:
        if f.field != g.field or not isinstance(f.values[0], dt.datetime):
            continue
        t = f.values[0].astimezone(dt.UTC).replace(tzinfo=None)
        if f.op in (Op.GE, Op.GT):
            lower = t if lower is None else max(lower, t)
        elif f.op in (Op.LT, Op.LE):
            # The last instant the window may hold (`lt` excludes its bound).
            last = t - dt.timedelta(microseconds=1) if f.op is Op.LT else t
            upper = last if upper is None else min(upper, last)
    if lower is None or upper is None:
        return None
    start = _bucket_start((lower + _LOCAL).date(), g.bucket)
    last_day = (upper + _LOCAL).date()
    out: list[tuple[str, dt.datetime]] = []
    while start <= last_day:
        if len(out) == limit:
            return None
        midnight = dt.datetime.combine(start, dt.time()) - _LOCAL
        out.append((_bucket_label(start, g.bucket), midnight))
        start = _next_bucket(start, g.bucket)
    return out


def calendar_counts(
    table: Table,
    g: GroupBy,
    buckets: Sequence[tuple[str, Scalar | dt.date]],
    others: Sequence[ColumnElement[Any]],
    keys: Sequence[ColumnElement[Any] | str],
    filters: Sequence[Filter],
    bound: ColumnElement[bool] | None,
) -> Select[Any]:
    """Counts per calendar bucket, one SELECT per bucket on the stored time itself, joined by
    UNION ALL: each is grouped by the other dimensions only and reads its own range of the
    covering index, so no local date is computed per row and no row is sorted (a count(CASE)
    per bucket side by side costs SQLite as much as the per-row date it replaces). The buckets
    partition the window: the first has no lower bound and the last no upper bound beyond the
    plan's own filters. Rows, labels and order are those of grouping by `bucket_expression`.

    Each SELECT has one range on the time field: the plan's lower bounds for the first bucket,
    its upper bounds for the last, the bucket's own boundaries (inside the window) otherwise.
    Two ranges of bound parameters on the same column leave SQLite unable to tell which is
    tighter, and it then prefers the time index and sorts (several times slower).
    `bound` is the case binding's condition, if any."""
    col = table.c[g.field]
    name = dimension_name(g.field, g.bucket)
    lower = [f for f in filters if f.field == g.field and f.op in (Op.GE, Op.GT)]
    upper = [f for f in filters if f.field == g.field and f.op in (Op.LT, Op.LE)]
    rest = [_condition(table, f) for f in filters if f not in lower and f not in upper]
    if bound is not None:
        rest.append(bound)
    parts = []
    for i, (label, _) in enumerate(buckets):
        conditions = list(rest)
        if i:
            conditions.append(col >= buckets[i][1])
        else:
            conditions.extend(_condition(table, f) for f in lower)
        if i + 1 < len(buckets):
            conditions.append(col < buckets[i + 1][1])
        else:
            conditions.extend(_condition(table, f) for f in upper)
        part = select(*others, cast(literal(label), String).label(name), func.count().label(COUNT))
        part = part.select_from(table)
        if conditions:
            part = part.where(and_(*conditions))
        # Grouped by nothing else, an empty bucket would be a row of 0: GROUP BY gives none.
        part = part.group_by(*keys) if keys else part.having(func.count() > 0)
        parts.append(part)
    both = union_all(*parts).subquery("buckets")
    ordered = [c for c in both.c if c.name != COUNT]
    return select(*both.c).order_by(*ordered)


def dimension_name(field: str, bucket: Bucket) -> str:
    return field if bucket is Bucket.NONE else f"{field}_{bucket}"


@dataclass(frozen=True)
class Statement:
    """A compiled plan: the Core statement and the names of its result columns."""

    select: Select[Any]
    columns: tuple[str, ...]
    aggregated: bool
    min_cell_count: int
    max_rows: int
    # The plan's group-by dimensions, in column order (for a fixed privacy domain).
    dimensions: tuple[GroupBy, ...] = ()

    def rows(self, result: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The statement's result as rows of (dimensions..., count), ordered by dimensions."""
        return [tuple(r) for r in result]


def _case_incidents(tables: Any, binding: CaseBinding) -> Select[Any]:
    """The IDs of the incidents filed under the binding's police case numbers."""
    incidents, cases = tables["incidents"], tables["cases"]
    return (
        select(incidents.c.incident_id)
        .join(cases, incidents.c.case_id == cases.c.case_id)
        .where(cases.c.case_number.in_(list(binding.police_cases)))
    )


def case_condition(table: Table, binding: CaseBinding) -> ColumnElement[bool] | None:
    """The row filter that keeps `table` to the case's rows (ADR 0013), None for public
    geography; a table with no link to a case's incidents is refused.

    The case's incidents are those filed under its police case numbers; its persons are those
    linked to them (`incident_persons`), its vehicles those those persons own. Everything is a
    subquery with bound parameters: nothing of the case leaves the database to be filtered.
    """
    if table.name in PUBLIC_TABLES:
        return None
    tables = table.metadata.tables
    incidents = _case_incidents(tables, binding)
    links = tables["incident_persons"]
    persons = select(links.c.person_id).where(links.c.incident_id.in_(incidents))
    match table.name:
        case "incidents" | "incident_persons":
            return table.c.incident_id.in_(incidents)
        case "persons":
            return table.c.person_id.in_(persons)
        case "vehicles":
            return table.c.owner_person_id.in_(persons)
        case "cases":
            return table.c.case_number.in_(list(binding.police_cases))
    raise PlanRefused(f"dataset {table.name!r} cannot be bound to a case's incidents")


def compile_plan(plan: QueryPlan, table: Table, dataset: Dataset, dialect: str) -> Statement:
    """Build the one statement that answers `plan`, or refuse it."""
    if plan.dataset != table.name:
        raise PlanRefused(f"plan is for dataset {plan.dataset!r}, not {table.name!r}")
    for name in (*plan.fields, *(f.field for f in plan.filters)):
        if name not in dataset.fields:
            raise PlanRefused(f"dataset {table.name!r} has no field {name!r}")
    conditions = [_condition(table, f) for f in plan.filters]
    bound = None if plan.case_binding is None else case_condition(table, plan.case_binding)
    if bound is not None:
        conditions.append(bound)
    if plan.case_binding is None and plan.aggregation is None and table.name not in PUBLIC_TABLES:
        # Only a case-bound purpose reads personal records: a record-level plan that is not
        # bound to a case lost its binding (fail closed).
        raise PlanRefused(
            "a record-level plan must carry a case binding (ADR 0013); this one has none"
        )
    where = and_(*conditions) if conditions else None
    agg = plan.aggregation
    if agg is None:
        if plan.aggregate_only:
            raise PlanRefused("record-level query refused: the purpose is aggregate-only")
        stmt = select(*(table.c[f] for f in plan.fields))
        if where is not None:
            stmt = stmt.where(where)
        pk = list(table.primary_key.columns)
        stmt = stmt.order_by(*pk).limit(plan.max_rows)
        return Statement(stmt, plan.fields, False, 0, plan.max_rows)
    if agg.measure is Measure.EXISTS:
        if agg.group_by:
            raise PlanRefused("an exists (hit/no-hit) query cannot be grouped")
        probe = (
            exists().where(where)
            if where is not None
            else exists(select(literal(1)).select_from(table))
        )
        return Statement(select(probe.label("exists")), ("exists",), True, 0, 1)
    dims: list[ColumnElement[Any]] = []
    names: list[str] = []
    # What GROUP BY and ORDER BY name: the expression, or for spans its output name (a CASE
    # with bound parameters written twice is two expressions to PostgreSQL, each with its own
    # parameters).
    keys: list[ColumnElement[Any] | str] = []
    for g in agg.group_by:
        if g.bucket is Bucket.H3:
            if g.field != LOCATION:
                raise PlanRefused(f"an H3 bucket applies to {LOCATION!r} only, not {g.field!r}")
            name = dimension_name(g.field, g.bucket)
            dims.append(h3_expression(table, g.h3_resolution, dialect).label(name))
            names.append(name)
            keys.append(dims[-1])
            continue
        if g.field not in dataset.fields:
            raise PlanRefused(f"dataset {table.name!r} has no field {g.field!r}")
        name = dimension_name(g.field, g.bucket)
        if g.bucket is Bucket.SPANS:
            dims.append(spans_expression(table, g).label(name))
            keys.append(name)
        else:
            dims.append(bucket_expression(table, g.field, g.bucket, dialect).label(name))
            keys.append(dims[-1])
        names.append(name)
    last = agg.group_by[-1] if agg.group_by else None
    if last is not None and last.bucket is Bucket.SPANS and last.field in dataset.fields:
        # One SELECT per span, as for calendar buckets: each reads its own range of the
        # covering index, grouped by the other dimensions only (ADR 0032, 0034).
        col = table.c[last.field]
        starts = (_bind(col, b) for b in last.boundaries[:-1])
        spans = list(zip(span_labels(last.boundaries), starts, strict=True))
        stmt = calendar_counts(table, last, spans, dims[:-1], keys[:-1], plan.filters, bound)
        return Statement(
            stmt, (*names, COUNT), True, plan.min_cell_count, plan.max_rows, agg.group_by
        )
    elif (
        last is not None
        and last.bucket in (Bucket.DAY, Bucket.WEEK, Bucket.MONTH)
        and isinstance(table.c[last.field].type, DateTime)
        and (buckets := calendar_buckets(last, plan.filters, MAX_CALENDAR_SELECTS)) is not None
    ):
        stmt = calendar_counts(table, last, buckets, dims[:-1], keys[:-1], plan.filters, bound)
        return Statement(
            stmt, (*names, COUNT), True, plan.min_cell_count, plan.max_rows, agg.group_by
        )
    else:
        stmt = select(*dims, func.count().label(COUNT)).select_from(table)
    if where is not None:
        stmt = stmt.where(where)
    if dims:
        stmt = stmt.group_by(*keys).order_by(*keys)
    return Statement(stmt, (*names, COUNT), True, plan.min_cell_count, plan.max_rows, agg.group_by)


def suppress_small_cells(
    rows: Sequence[Sequence[Any]], min_cell_count: int, max_rows: int
) -> tuple[list[Sequence[Any]], int]:
    """Drop groups whose count is below k, then cap the number of groups.

    Returns the kept rows and the number of suppressed groups. The count is
    always the last column of an aggregated row.
    """
    kept = [r for r in rows if r[-1] >= min_cell_count]
    return kept[:max_rows], len(rows) - len(kept)
