# What a caller may ask, given the registry in data.registry. Each failing rule adds one
# sentence to `reasons`; any reason denies the request (see authz.rego). Rules read the
# input only through the views of input.rego. Registry entries are tested with
# is_object/is_null, never `== null`: rego-cpp compares a large object slowly.
package gerbang.authz

# --- registry lookups (null when absent) ----------------------------------------------

default caller := null

caller := data.registry.callers[caller_id]

default purpose := null

purpose := data.registry.purposes[purpose_name]

default dataset := null

dataset := data.registry.datasets[dataset_name]

default dataset_fields := {}

dataset_fields := dataset.fields

# The purpose's grant for this dataset; null when the purpose does not cover it.
default grant := null

grant := purpose.datasets[dataset_name]

default granted_fields := []

granted_fields := grant.fields

default case_file := null

case_file := data.registry.cases[case_reference]

# Time buckets at least as coarse as a purpose's time generalisation.
# Spans are unions of whole local weeks (ADR 0032): allowed wherever weeks are.
time_buckets := {
	"none": ["none", "hour_of_day", "day_of_week", "day", "week", "spans", "month"],
	"hour": ["hour_of_day", "day_of_week", "day", "week", "spans", "month"],
	"day": ["day_of_week", "day", "week", "spans", "month"],
	"week": ["week", "spans", "month"],
	"month": ["month"],
}

default time_generalisation := null

time_generalisation := purpose.generalisation.time

time_bucket_allowed(generalisation, bucket) if bucket in time_buckets[generalisation]

value_kinds := {
	"string": "strings",
	"time": "whole epoch seconds",
	"integer": "whole numbers",
	"coordinate": "numbers",
	"boolean": "true or false",
}

value_fits("string", v) if is_string(v)

value_fits("time", v) if whole_number(v)

value_fits("integer", v) if whole_number(v)

value_fits("coordinate", v) if is_number(v)

value_fits("boolean", v) if is_boolean(v)

# --- caller, purpose, legal basis -----------------------------------------------------

reasons contains sprintf("caller '%s' is not registered", [shown(caller_id)]) if {
	caller_id != null
	is_null(caller)
}

reasons contains "request.purpose names no registered purpose" if {
	purpose_name != null
	is_null(purpose)
}

reasons contains sprintf("caller '%s' is not permitted to use purpose '%s'", [caller_id, purpose_name]) if {
	is_object(caller)
	is_object(purpose)
	not purpose_name in caller.purposes
}

reasons contains sprintf("request.legal_basis does not match the registered basis of purpose '%s': '%s'", [purpose_name, purpose.legal_basis]) if {
	is_object(purpose)
	legal_basis != null
	legal_basis != purpose.legal_basis
}

# --- dataset and fields ---------------------------------------------------------------

reasons contains "request.dataset names no registered dataset" if {
	dataset_name != null
	is_null(dataset)
}

reasons contains sprintf("purpose '%s' does not cover dataset '%s'", [purpose_name, dataset_name]) if {
	is_object(purpose)
	is_object(dataset)
	is_null(grant)
}

filter_fields := [f.field | some f in valid_filters]

group_by_fields := [g.field | some g in valid_group_by]

default location_grouped := false

location_grouped if {
	some g in valid_group_by
	g.field == "location"
	g.bucket == "h3"
}

# "location" is the virtual lat/lon pair of an h3 group-by: grouping by it reads lat and lon.
default location_fields := []

location_fields := ["lat", "lon"] if location_grouped

known_field(f) if is_object(dataset_fields[f])

# A field name as a reason may quote it: a field of the registered dataset, or no name at all
# (a name the caller made up could carry anything, and reasons go into the audit log).
field_label(f) := sprintf("'%s'", [f]) if known_field(f)

else := "(a name the dataset does not have)"

# Every dataset field the request reads: returned, filtered on or grouped by.
referenced_fields := [f |
	some f in array.concat(array.concat(requested_fields, filter_fields), array.concat(group_by_fields, location_fields))
	f != "location"
]

reasons contains sprintf("the request names a field that dataset '%s' does not have (in fields, a filter or a group-by)", [dataset_name]) if {
	is_object(dataset)
	some f in referenced_fields
	not known_field(f)
}

reasons contains sprintf("purpose '%s' does not grant field '%s' of dataset '%s'", [purpose_name, f, dataset_name]) if {
	is_object(purpose)
	some f in referenced_fields
	known_field(f)
	not f in granted_fields
}

reasons contains "field 'location' exists only as a group-by with bucket 'h3'" if {
	not location_grouped
	"location" in requested_fields
}

reasons contains "filters cannot name 'location': filter on 'lat' and 'lon' instead" if {
	"location" in filter_fields
}

# --- record-level or aggregated -------------------------------------------------------

# A dataset with only non-personal fields (reference geography) may be read record by record
# even under an aggregate-only purpose.
default dataset_non_personal := false

dataset_non_personal if {
	is_object(dataset)
	every spec in dataset_fields {
		spec.class == "non_personal"
	}
}

default aggregate_only_applies := false

aggregate_only_applies if {
	purpose.aggregate_only == true
	not dataset_non_personal
}

reasons contains sprintf("purpose '%s' allows only aggregated results: add an aggregation", [purpose_name]) if {
	record_level
	aggregate_only_applies
}

reasons contains "a record-level query must name at least one field" if {
	record_level
	fields_valid
	count(requested_fields) == 0
}

reasons contains sprintf("purpose '%s' does not allow measure '%s'", [purpose_name, measure]) if {
	measure != null
	is_object(purpose)
	not measure in purpose.measures
}

reasons contains sprintf("field %s is not a group-by field: an aggregated result carries only its group-by fields", [field_label(f)]) if {
	aggregated
	some f in requested_fields
	not f in group_by_fields
}

# --- group-by -------------------------------------------------------------------------

reasons contains "group-by 'location' needs bucket 'h3'" if {
	some g in valid_group_by
	g.field == "location"
	g.bucket != "h3"
}

reasons contains sprintf("bucket 'h3' applies only to the field 'location', not %s", [field_label(g.field)]) if {
	some g in valid_group_by
	g.bucket == "h3"
	g.field != "location"
}

reasons contains sprintf("purpose '%s' does not allow h3 cells", [purpose_name]) if {
	location_grouped
	is_object(purpose)
	purpose.generalisation.h3_max_resolution == null
}

# %v, not %d: rego-cpp formats a float such as 9.0 with %d as nothing, and a reason
# that silently disappears would allow the request (regression: h3_resolution 9.0).
reasons contains sprintf("the h3 resolution of a group-by is finer than the maximum %v of purpose '%s'", [purpose.generalisation.h3_max_resolution, purpose_name]) if {
	some g in valid_group_by
	g.bucket == "h3"
	is_number(purpose.generalisation.h3_max_resolution)
	g.h3_resolution > purpose.generalisation.h3_max_resolution
}

reasons contains sprintf("grouping by direct identifier '%s' is not allowed", [g.field]) if {
	some g in valid_group_by
	dataset_fields[g.field].class == "direct_identifier"
}

reasons contains sprintf("grouping by raw coordinate '%s' is not allowed: group by 'location' with bucket 'h3'", [g.field]) if {
	some g in valid_group_by
	dataset_fields[g.field].type == "coordinate"
}

reasons contains sprintf("bucket '%s' applies only to time fields, not '%s'", [g.bucket, g.field]) if {
	some g in valid_group_by
	dataset_fields[g.field].type != "time"
	not g.bucket in ["none", "h3"]
}

reasons contains sprintf("grouping '%s' by '%s' is finer than the time generalisation '%s' of purpose '%s'", [g.field, g.bucket, time_generalisation, purpose_name]) if {
	is_object(purpose)
	some g in valid_group_by
	dataset_fields[g.field].type == "time"
	g.bucket != "h3"
	not time_bucket_allowed(time_generalisation, g.bucket)
}

# --- spans: whole local weeks between explicit boundaries (ADR 0032) --------------------
# Each boundary a Monday 00:00 WIB (UTC+7; the epoch began on a Thursday, so a local Monday
# midnight is 4 days into a local week counted from Thursday), strictly increasing, the first
# and the last the window that the request's own 'ge' and 'lt' filters put on the field. A
# count per span is then a sum of counts per week of that window: never finer than 'week'.

spans := [g | some g in valid_group_by; g.bucket == "spans"]

local_week_start(t) if (t + 25200) % 604800 == 345600

reasons contains sprintf("group-by '%s' by spans: every boundary must be a Monday 00:00 WIB (a local week start)", [g.field]) if {
	some g in spans
	some b in g.boundaries
	not local_week_start(b)
}

reasons contains sprintf("group-by '%s' by spans: boundaries must be strictly increasing", [g.field]) if {
	some g in spans
	some i, b in g.boundaries
	i > 0
	b <= g.boundaries[i - 1]
}

default spans_window(_) := false

spans_window(g) if {
	first := g.boundaries[0]
	last := g.boundaries[count(g.boundaries) - 1]
	some lo in valid_filters
	lo.field == g.field
	lo.op == "ge"
	lo.values[0] == first
	some hi in valid_filters
	hi.field == g.field
	hi.op == "lt"
	hi.values[0] == last
	every f in valid_filters {
		spans_bound_fits(f, g.field, first, last)
	}
}

spans_bound_fits(f, field, _, _) if f.field != field

spans_bound_fits(f, field, _, _) if {
	f.field == field
	not f.op in ["ge", "gt", "lt", "le"]
}

spans_bound_fits(f, field, first, _) if {
	f.field == field
	f.op == "ge"
	f.values[0] <= first
}

spans_bound_fits(f, field, _, last) if {
	f.field == field
	f.op == "lt"
	f.values[0] >= last
}

reasons contains sprintf("group-by '%s' by spans: the first and last boundaries must be the window, the request's 'ge' and 'lt' filters on '%s' (no other bound on it)", [g.field, g.field]) if {
	some g in spans
	not spans_window(g)
}

# --- the hit/no-hit measure -----------------------------------------------------------

reasons contains "measure 'exists' takes no group-by fields" if {
	measure == "exists"
	count(group_by) > 0
}

reasons contains sprintf("measure 'exists' needs exactly one filter, 'eq' on '%s' with one value", [purpose.lookup_field]) if {
	measure == "exists"
	is_object(purpose)
	"exists" in purpose.measures
	not exists_lookup_ok
}

exists_lookup_ok if {
	count(filters) == 1
	some f in valid_filters
	f.field == purpose.lookup_field
	f.op == "eq"
}

# --- filters --------------------------------------------------------------------------

reasons contains sprintf("filter on '%s' needs %s as values", [f.field, value_kinds[kind]]) if {
	some f in valid_filters
	kind := dataset_fields[f.field].type
	some v in f.values
	not value_fits(kind, v)
}

reasons contains sprintf("op '%s' needs a time or number field, and '%s' is neither", [f.op, f.field]) if {
	some f in valid_filters
	f.op in range_ops
	dataset_fields[f.field].type in ["string", "boolean"]
}

# --- jurisdiction ---------------------------------------------------------------------

default jurisdiction_scoped := false

jurisdiction_scoped if dataset.jurisdiction_scoped == true

# An empty kecamatan list means every kecamatan of the caller's kota.
default jurisdiction_kecamatan := []

jurisdiction_kecamatan := caller.jurisdiction.kecamatan if count(caller.jurisdiction.kecamatan) > 0

jurisdiction_kecamatan := [k |
	some kota in caller.jurisdiction.kota
	some k in data.registry.geography.kota[kota].kecamatan
] if {
	count(caller.jurisdiction.kecamatan) == 0
}

reasons contains sprintf("a filter on 'kota' names a kota outside the jurisdiction of caller '%s'", [caller_id]) if {
	jurisdiction_scoped
	is_object(caller)
	some f in valid_filters
	f.field == "kota"
	f.op in ["eq", "in"]
	some v in f.values
	not v in caller.jurisdiction.kota
}

reasons contains sprintf("a filter on 'kecamatan' names a kecamatan outside the jurisdiction of caller '%s'", [caller_id]) if {
	jurisdiction_scoped
	is_object(caller)
	some f in valid_filters
	f.field == "kecamatan"
	f.op in ["eq", "in"]
	some v in f.values
	not v in jurisdiction_kecamatan
}

# --- case reference -------------------------------------------------------------------

default case_required := false

case_required if purpose.case_reference_required == true

reasons contains sprintf("purpose '%s' requires a case reference", [purpose_name]) if {
	case_required
	case_reference == ""
}

reasons contains "request.case_reference names no registered case" if {
	case_required
	case_reference != ""
	case_reference != null
	is_null(case_file)
}

reasons contains "input.time.now_rfc3339 must be a UTC time written YYYY-MM-DDTHH:MM:SSZ" if {
	case_required
	now_utc == null
}

reasons contains sprintf("case '%s' is authorised only from %s", [case_reference, case_file.valid_from]) if {
	case_required
	is_object(case_file)
	now_utc != null
	now_utc < case_file.valid_from
}

reasons contains sprintf("case '%s' expired at %s", [case_reference, case_file.valid_until]) if {
	case_required
	is_object(case_file)
	now_utc != null
	now_utc > case_file.valid_until
}

reasons contains sprintf("caller '%s' is not authorised for case '%s'", [shown(caller_id), case_reference]) if {
	case_required
	is_object(case_file)
	not caller_id in case_file.authorised_callers
}

reasons contains sprintf("case '%s' does not cover purpose '%s'", [case_reference, purpose_name]) if {
	case_required
	is_object(case_file)
	case_file.purpose != purpose_name
}

# --- case binding ---------------------------------------------------------------------

# Record-level access under a case reaches only the case's rows (ADR 0013): the incidents of
# the police cases its registration names (`police_cases`, the case numbers of the police
# databases), the persons and vehicles linked to those incidents, and the case files
# themselves. The binding is an obligation the gateway signs into every plan of the request
# and each adapter enforces as a row filter; these are the datasets it can bind.
case_bound_datasets := ["incidents", "incident_persons", "persons", "vehicles", "cases"]

default case_binding := null

case_binding := {"reference": case_reference, "police_cases": sort(case_file.police_cases)} if {
	case_required
	is_object(case_file)
	is_array(case_file.police_cases)
	count(case_file.police_cases) > 0
}

reasons contains sprintf("case '%s' names no police case that it covers: register its police_cases", [case_reference]) if {
	case_required
	is_object(case_file)
	is_null(case_binding)
}

reasons contains sprintf("purpose '%s' reads dataset '%s' only within a case, and that dataset has no link to a case's incidents", [purpose_name, dataset_name]) if {
	case_required
	is_object(dataset)
	not dataset_non_personal
	not dataset_name in case_bound_datasets
}

# --- the end user ---------------------------------------------------------------------

# Rule requires_user: a purpose may require the person behind each request (every
# record-level purpose does; the registry checks that).
default user_required := false

user_required if purpose.requires_user == true

reasons contains sprintf("purpose '%s' requires the end user behind the request (rule requires_user): sign the request with the user's commitment", [purpose_name]) if {
	user_required
	not user_committed
}

# --- time window ----------------------------------------------------------------------

default window_field := null

window_field := f if {
	f := dataset.event_time_field
	is_string(f)
}

default window_start := null

# Rounded up to a whole hour: a window that moved with every second would make each request a
# new release, and two of them a second apart a difference of one second of incidents.
window_start := start + ((3600 - (start % 3600)) % 3600) if {
	now != null
	is_number(purpose.max_window_days)
	start := now - (purpose.max_window_days * 86400)
}

default window_respected := false

window_respected if {
	window_start != null
	some f in valid_filters
	f.field == window_field
	f.op in ["ge", "gt"]
	whole_number(f.values[0])
	f.values[0] >= window_start
}

reasons contains sprintf("purpose '%s' covers only the last %v days: add a filter '%s' ge %v or later", [purpose_name, purpose.max_window_days, window_field, window_start]) if {
	window_field != null
	window_start != null
	not window_respected
}

# A window of at most max_span_days: bounded on both sides, by ge/gt and lt/le filters on the
# dataset's event time, at most that far apart.
default span_respected := false

span_respected if {
	some lo in valid_filters
	lo.field == window_field
	lo.op in ["ge", "gt"]
	whole_number(lo.values[0])
	some hi in valid_filters
	hi.field == window_field
	hi.op in ["lt", "le"]
	whole_number(hi.values[0])
	hi.values[0] - lo.values[0] <= purpose.max_span_days * 86400
}

reasons contains sprintf("purpose '%s' allows a time window of at most %v days: bound '%s' by ge and lt filters at most that far apart", [purpose_name, purpose.max_span_days, window_field]) if {
	window_field != null
	is_object(purpose)
	is_number(purpose.max_span_days)
	not span_respected
}

# --- analytics operations ---------------------------------------------------------------

default operation_registered := false

operation_registered if {
	is_array(purpose.operations)
	some o in purpose.operations
	o == operation
}

reasons contains sprintf("request.operation is not an operation registered for purpose '%s'", [purpose_name]) if {
	operation != null
	is_object(purpose)
	not operation_registered
}

# --- volume ---------------------------------------------------------------------------

reasons contains sprintf("limit exceeds the maximum of %v rows for purpose '%s'", [purpose.max_rows, purpose_name]) if {
	limit != null
	is_object(purpose)
	limit > purpose.max_rows
}

# --- counts that cannot be differenced (docs/adr/0009) ---------------------------------
# Counts released to an aggregate-only purpose are differentially private at the adapter.
# These rules keep what the caller can vary on the purpose's grid, so that no two allowed
# requests differ by a second of time, a coordinate box or a complement: a window moved by
# one second, `ne` against the whole, or lat/lon ranges would otherwise single out incidents.

default counts_released := false

counts_released if {
	aggregate_only_applies
	aggregated
	measure == "count"
}

time_field(name) if dataset_fields[name].type == "time"

default grid_aligned(_) := false

grid_aligned(f) if time_generalisation in f.aligned

reasons contains sprintf("purpose '%s' releases counts: time field '%s' may only be bounded by 'ge' and 'lt' (a window)", [purpose_name, f.field]) if {
	counts_released
	some f in valid_filters
	time_field(f.field)
	not f.op in ["ge", "lt"]
}

reasons contains sprintf("purpose '%s' releases counts on the '%s' grid (WIB): the bound on '%s' must fall on it", [purpose_name, time_generalisation, f.field]) if {
	counts_released
	some f in valid_filters
	time_field(f.field)
	f.op in ["ge", "lt"]
	not grid_aligned(f)
}

default window_bounded := false

window_bounded if {
	some lo in valid_filters
	lo.field == window_field
	lo.op == "ge"
	some hi in valid_filters
	hi.field == window_field
	hi.op == "lt"
}

reasons contains sprintf("purpose '%s' releases counts only over a window: bound '%s' by a 'ge' and an 'lt' filter", [purpose_name, window_field]) if {
	counts_released
	window_field != null
	not window_bounded
}

reasons contains sprintf("purpose '%s' releases counts: filter on published areas (kota, kecamatan, kelurahan), not on coordinate '%s'", [purpose_name, f.field]) if {
	counts_released
	some f in valid_filters
	dataset_fields[f.field].type == "coordinate"
}

reasons contains sprintf("purpose '%s' releases counts: op '%s' on %s is refused (a complement differs from the whole by what it leaves out)", [purpose_name, f.op, field_label(f.field)]) if {
	counts_released
	some f in valid_filters
	f.op in ["ne", "not_in"]
}

reasons contains sprintf("purpose '%s' releases counts: op '%s' applies to time fields only, not %s", [purpose_name, f.op, field_label(f.field)]) if {
	counts_released
	some f in valid_filters
	f.op in range_ops
	not time_field(f.field)
}
