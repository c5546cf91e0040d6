# Reading the input document, and its shape.
#
# Every input value is read here once, into a rule that is always defined: a valid value, or
# null / [] when the value is missing or malformed. The rules in rules.rego read only these
# views, never `input`, so a malformed input cannot make a deny rule silently undefined; and
# each malformed part adds its own reason. (It is also what keeps the embedded engine fast:
# rego-cpp walks the input on every `input.` reference and re-evaluates undefined rules.)
#
# Only builtins that OPA and rego-cpp (regopy) evaluate identically are used: no string
# count/upper/lower (rego-cpp counts escapes), no \u escapes in literals, no sets built from
# comprehensions (slow in rego-cpp). The parity corpus (tests/test_policy_parity.py) checks it.
package gerbang.authz

ops := ["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"]

single_value_ops := ["eq", "ne", "lt", "le", "gt", "ge"]

range_ops := ["lt", "le", "gt", "ge"]

buckets := ["none", "hour_of_day", "day_of_week", "day", "week", "month", "h3", "spans"]

measures := ["count", "exists"]

max_filter_values := 100

max_h3_resolution := 15

# A spans group-by: 2 to 64 boundaries (1 to 63 spans; ADR 0032).
max_span_boundaries := 64

rfc3339_utc := `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`

# Request values outside this alphabet are not echoed in reasons: the two engines escape,
# and so sort, quotes, backslashes and control characters differently.
# No bounded repetition ({1,200}): OPA's Wasm runtime recompiles regexes on every
# decision and a counted class costs ~1 ms to compile; the length is checked apart.
printable := `^[A-Za-z0-9 _./:;,()@%&+=?#~-]+$`

# A plausible clock (2020-01-01 to 2100-01-01) keeps the time arithmetic exact everywhere.
earliest_now := 1577836800

latest_now := 4102444800

# Whole numbers that a double holds exactly (|x| <= 2^53 - 1): beyond that the engines need
# not compare alike, and no count, limit or epoch second is that large.
whole_number(x) if {
	is_number(x)
	x >= -9007199254740991
	x <= 9007199254740991
	round(x) == x
}

scalar(v) if is_string(v)

scalar(v) if is_number(v)

scalar(v) if is_boolean(v)

shown(s) := s if {
	is_string(s)
	count(s) <= 200
	regex.match(printable, s)
} else := "<unprintable>"

# --- time -----------------------------------------------------------------------------

default now := null

now := t if {
	t := input.time.now
	whole_number(t)
	t >= earliest_now
	t < latest_now
}

reasons contains "input.time.now must be whole epoch seconds between 2020 and 2100" if now == null

# Read only where a case's validity is checked (rules.rego).
default now_utc := null

now_utc := t if {
	t := input.time.now_rfc3339
	is_string(t)
	regex.match(rfc3339_utc, t)
}

# --- caller ---------------------------------------------------------------------------

default caller_id := null

caller_id := c if {
	c := input.caller.id
	is_string(c)
}

reasons contains "input.caller.id must be a string (the SAN URI of the caller's certificate)" if caller_id == null

# --- the end user ---------------------------------------------------------------------

# Whether the signed request names its end user (a verified keyed commitment; the policy
# never sees the commitment itself). Missing means no user.
default user_committed := false

user_committed if input.user_committed == true

reasons contains "input.user_committed must be true or false" if {
	v := input.user_committed
	not is_boolean(v)
}

# --- request --------------------------------------------------------------------------

default request := null

request := r if {
	r := input.request
	is_object(r)
}

reasons contains "input.request must be an object" if is_null(request)

default dataset_name := null

dataset_name := s if {
	s := request.dataset
	is_string(s)
}

default purpose_name := null

purpose_name := s if {
	s := request.purpose
	is_string(s)
}

default legal_basis := null

legal_basis := s if {
	s := request.legal_basis
	is_string(s)
}

default case_reference := null

case_reference := s if {
	s := request.case_reference
	is_string(s)
}

reasons contains sprintf("request.%s must be a string", [key]) if {
	is_object(request)
	some key, value in {
		"dataset": dataset_name,
		"purpose": purpose_name,
		"legal_basis": legal_basis,
		"case_reference": case_reference,
	}
	value == null
}

# The analytics operation the request was compiled from (AnalyticsService); null for a plain
# query, whose input has no operation or a null one.
default operation := null

operation := s if {
	s := request.operation
	is_string(s)
}

default operation_malformed := false

operation_malformed if {
	is_object(request)
	o := request.operation
	not is_null(o)
	not is_string(o)
}

reasons contains "request.operation must be a string or null" if operation_malformed

default fields_valid := false

fields_valid if {
	is_array(request.fields)
	every f in request.fields {
		is_string(f)
	}
}

default requested_fields := []

requested_fields := request.fields if fields_valid

reasons contains "request.fields must be a list of field names" if {
	is_object(request)
	not fields_valid
}

default limit := null

limit := n if {
	n := request.limit
	whole_number(n)
	n >= 0
}

reasons contains "request.limit must be a whole number of rows, 0 for no limit" if {
	is_object(request)
	limit == null
}

# --- filters --------------------------------------------------------------------------

# Flags, never `not is_array(request.filters)`: OPA hoists a reference out of a negated call,
# so with the key missing that rule would be undefined instead of true (rego-cpp differs).
default filters_valid := false

filters_valid if is_array(request.filters)

default filters := []

filters := request.filters if filters_valid

reasons contains "request.filters must be a list" if {
	is_object(request)
	not filters_valid
}

# The checks valid_filters makes, one by one, for the reasons below.
filter_field_ok(f) if is_string(f.field)

filter_op_ok(f) if f.op in ops

filter_values_ok(f) if {
	is_array(f.values)
	count(f.values) > 0
	count(f.values) <= max_filter_values
	every v in f.values {
		scalar(v)
	}
}

filter_arity_ok(f) if {
	op := f.op
	not op in single_value_ops
}

filter_arity_ok(f) if count(f.values) == 1

# (Inlined rather than calling the functions above: function calls are slow in rego-cpp.)
valid_filters := [f |
	some f in filters
	is_object(f)
	is_string(f.field)
	f.op in ops
	values := f.values
	is_array(values)
	count(values) > 0
	count(values) <= max_filter_values
	every v in values {
		scalar(v)
	}
	filter_arity_ok(f)
]

default filters_all_valid := false

filters_all_valid if count(valid_filters) == count(filters)

reasons contains sprintf("filter %v must name its field as a string", [i + 1]) if {
	not filters_all_valid
	some i, f in filters
	not filter_field_ok(f)
}

reasons contains sprintf("filter %v has an unknown op; use one of eq, ne, lt, le, gt, ge, in, not_in", [i + 1]) if {
	not filters_all_valid
	some i, f in filters
	not filter_op_ok(f)
}

reasons contains sprintf("filter %v must have a list of 1 to %v values, each a string, number or boolean", [i + 1, max_filter_values]) if {
	not filters_all_valid
	some i, f in filters
	not filter_values_ok(f)
}

reasons contains sprintf("filter %v: op '%s' takes exactly one value", [i + 1, f.op]) if {
	not filters_all_valid
	some i, f in filters
	filter_op_ok(f)
	filter_values_ok(f)
	not filter_arity_ok(f)
}

# --- aggregation ----------------------------------------------------------------------

# A missing key is not a record-level query: only an explicit null is.
default aggregation := "missing"

aggregation := request.aggregation

default record_level := false

record_level if is_null(aggregation)

default aggregated := false

aggregated if is_object(aggregation)

reasons contains "request.aggregation must be null (record level) or an object" if {
	is_object(request)
	not record_level
	not aggregated
}

default group_by_valid := false

group_by_valid if is_array(aggregation.group_by)

default group_by := []

group_by := aggregation.group_by if group_by_valid

reasons contains "aggregation.group_by must be a list" if {
	aggregated
	not group_by_valid
}

default measure := null

measure := m if {
	aggregated
	m := aggregation.measure
	m in measures
}

reasons contains "aggregation.measure must be 'count' or 'exists'" if {
	aggregated
	measure == null
}

group_ok(g) if {
	is_object(g)
	is_string(g.field)
	g.bucket in buckets
	not g.bucket in ["h3", "spans"]
}

# The shape of a spans group-by; rules.rego checks what its boundaries mean.
group_ok(g) if {
	is_object(g)
	is_string(g.field)
	g.bucket == "spans"
	is_array(g.boundaries)
	count(g.boundaries) >= 2
	count(g.boundaries) <= max_span_boundaries
	every b in g.boundaries {
		whole_number(b)
	}
}

group_ok(g) if {
	is_object(g)
	is_string(g.field)
	g.bucket == "h3"
	whole_number(g.h3_resolution)
	g.h3_resolution >= 0
	g.h3_resolution <= max_h3_resolution
}

valid_group_by := [g | some g in group_by; group_ok(g)]

default group_by_all_valid := false

group_by_all_valid if count(valid_group_by) == count(group_by)

reasons contains sprintf("group-by %v must have a field name and a bucket (none, hour_of_day, day_of_week, day, week, month, h3, spans; h3 with h3_resolution 0 to %v, spans with 2 to %v boundaries in epoch seconds)", [i + 1, max_h3_resolution, max_span_boundaries]) if {
	not group_by_all_valid
	some i, g in group_by
	not group_ok(g)
}
