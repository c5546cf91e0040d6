# Gerbang authorisation. The one entrypoint is data.gerbang.authz.decision, always defined:
#
#   {"allow": bool, "reasons": [sorted sentences], "obligations": {...}, or {} when denied}
#
# Deny by default. input.rego reads and checks the input, rules.rego adds one reason per
# failing rule; a request is allowed only with no reason at all and every registry entry it
# needs present. The policy revision is added by the engine wrapper, not here.
package gerbang.authz

default decision := {
	"allow": false,
	"reasons": ["the policy reached no decision for this request"],
	"obligations": {},
}

decision := {"allow": false, "reasons": sort(reasons), "obligations": {}} if count(reasons) > 0

decision := {"allow": true, "reasons": [], "obligations": obligations} if {
	count(reasons) == 0
	is_object(caller)
	is_object(purpose)
	is_object(grant)
	now != null
	limit != null
	case_bound
}

# A purpose that needs a case is allowed only with the case binding in its obligations.
default case_bound := false

case_bound if not case_required

case_bound if is_object(case_binding)

# What the adapters must enforce on an allowed request.
obligations := {
	"fields": unique_sorted(requested_fields),
	"row_filters": array.concat(array.concat(kota_filters, kecamatan_filters), array.concat(window_filters, grant.row_filters)),
	"aggregate_only": aggregate_only_applies,
	"min_cell_count": purpose.min_cell_count,
	"max_rows": max_rows,
	"epsilon": purpose.epsilon,
	"generalisation": purpose.generalisation,
	"pseudonymised_fields": unique_sorted(grant.pseudonymised_fields),
	"retention_days": purpose.retention_days,
	"max_window_days": purpose.max_window_days,
	"case_binding": case_binding,
}

unique_sorted(xs) := unique if {
	sorted := sort(xs)

	# (`some i, x in` inside a comprehension does not parse in rego-cpp.)
	unique := [x | some i; x := sorted[i]; not repeats_previous(sorted, i)]
}

repeats_previous(xs, i) if {
	i > 0
	xs[i - 1] == xs[i]
}

# round() keeps a limit sent as 5.0 an integer in both engines' output.
max_rows := purpose.max_rows if limit == 0

max_rows := round(limit) if {
	limit > 0
	limit <= purpose.max_rows
}

default kota_filters := []

kota_filters := [{"field": "kota", "op": "in", "values": sort(caller.jurisdiction.kota)}] if jurisdiction_scoped

default kecamatan_filters := []

kecamatan_filters := [{"field": "kecamatan", "op": "in", "values": sort(caller.jurisdiction.kecamatan)}] if {
	jurisdiction_scoped
	count(caller.jurisdiction.kecamatan) > 0
}

default window_filters := []

window_filters := [{"field": window_field, "op": "ge", "values": [window_start]}] if {
	window_field != null
	window_start != null
}
