# Tests for data.gerbang.authz.decision: `opa test policies/ -v` (add --coverage for JSON
# coverage). Every purpose has allowed and denied cases; the registry is the real one
# except where a test overrides a part of it with `with data.registry...`.
package gerbang.authz_test

import data.gerbang.authz

now := 1764396000 # 2026-11-29T06:00:00Z

day := 86400

federation := "spiffe://gerbang.jakarta.go.id/"

all_kota := ["Jakarta Barat", "Jakarta Pusat", "Jakarta Selatan", "Jakarta Timur", "Jakarta Utara"]

basis := {name: p.legal_basis | some name, p in data.registry.purposes}

# Requests name their end user unless a test says otherwise (rule requires_user).
query(caller, request) := {
	"time": {"now": now, "now_rfc3339": "2026-11-29T06:00:00Z"},
	"caller": {"id": concat("", [federation, caller])},
	"user_committed": true,
	"request": object.union(
		{"fields": [], "filters": [], "aggregation": null, "case_reference": "", "limit": 0},
		request,
	),
}

decide(caller, request) := d if {
	d := authz.decision with input as query(caller, request)
}

allowed(d) if {
	d.allow == true
	d.reasons == []
}

denied_because(d, reason) if {
	d.allow == false
	d.obligations == {}
	reason in d.reasons
}

# No reason quotes a value the caller typed: reasons go into the audit log (ADR 0013).
no_reason_quotes(d, typed) if {
	every r in d.reasons {
		not contains(r, typed)
	}
}

counts(group_by) := {"group_by": group_by, "measure": "count"}

# 2025-11-29T00:00:00+07:00: `now` is 13:00 WIB that day.
midnight := now - 46800

# The grids (WIB) a time falls on, as the gateway annotates each time filter
# (gateway/protocol/planning.py: grid_units): the policy cannot compute the month grid itself.
on_grid("hour", t) if t % 3600 == 0

on_grid("day", t) if local_midnight(t)

on_grid("week", t) if {
	local_midnight(t)
	time.weekday((t + 25200) * 1000000000) == "Monday"
}

on_grid("month", t) if {
	local_midnight(t)
	time.date((t + 25200) * 1000000000)[2] == 1
}

local_midnight(t) if (t + 25200) % 86400 == 0

grids(t) := [u | some u in ["hour", "day", "week", "month"]; on_grid(u, t)]

bound(op, t) := {"field": "occurred_at", "op": op, "values": [t], "aligned": grids(t)}

window(lo, hi) := [bound("ge", lo), bound("lt", hi)]

# 00:00 WIB on the first of a month.
month(y, m) := time.parse_rfc3339_ns(sprintf("%04d-%02d-01T00:00:00+07:00", [y, m])) / 1000000000

# A window of the `days` whole local days before today, bounded on both sides.
last_days(days) := window(midnight - (days * day), midnight)

reported_only := {"field": "source", "op": "in", "values": ["citizen_report", "emergency_call"]}

# --- traffic_planning -----------------------------------------------------------------

traffic := {
	"dataset": "incidents",
	"fields": ["kecamatan", "occurred_at"],
	"filters": [
		{"field": "kota", "op": "eq", "values": ["Jakarta Selatan"]},
		bound("ge", month(2025, 11)),
		bound("lt", midnight),
	],
	"aggregation": counts([
		{"field": "kecamatan", "bucket": "none"},
		{"field": "occurred_at", "bucket": "hour_of_day"},
	]),
	"purpose": "traffic_planning",
	"legal_basis": basis.traffic_planning,
}

test_traffic_planning_allowed_with_obligations if {
	d := decide("dishub/atcs", traffic)
	allowed(d)
	d.obligations == {
		"fields": ["kecamatan", "occurred_at"],
		"row_filters": [{"field": "kota", "op": "in", "values": all_kota}],
		"aggregate_only": true,
		"min_cell_count": 10,
		"max_rows": 5000,
		"epsilon": 1,
		"generalisation": {"place": "kecamatan", "time": "hour", "h3_max_resolution": null},
		"pseudonymised_fields": [],
		"retention_days": 30,
		"max_window_days": null,
		"case_binding": null,
	}
}

test_traffic_planning_denies_record_level if {
	d := decide("dishub/atcs", object.union(traffic, {"aggregation": null}))
	denied_because(d, "purpose 'traffic_planning' allows only aggregated results: add an aggregation")
}

test_traffic_planning_denies_persons if {
	d := decide("dishub/atcs", object.union(traffic, {"dataset": "persons", "fields": ["nik"], "filters": [], "aggregation": counts([{"field": "nik", "bucket": "none"}])}))
	denied_because(d, "purpose 'traffic_planning' does not cover dataset 'persons'")
	denied_because(d, "purpose 'traffic_planning' does not grant field 'nik' of dataset 'persons'")
	denied_because(d, "grouping by direct identifier 'nik' is not allowed")
}

test_traffic_planning_denies_raw_timestamps if {
	d := decide("dishub/atcs", object.union(traffic, {"aggregation": counts([
		{"field": "kecamatan", "bucket": "none"},
		{"field": "occurred_at", "bucket": "none"},
	])}))
	denied_because(d, "grouping 'occurred_at' by 'none' is finer than the time generalisation 'hour' of purpose 'traffic_planning'")
}

test_traffic_planning_denies_ungranted_filter if {
	d := decide("dishub/atcs", object.union(traffic, {"filters": [{"field": "modus_operandi", "op": "eq", "values": ["curanmor"]}]}))
	denied_because(d, "purpose 'traffic_planning' does not grant field 'modus_operandi' of dataset 'incidents'")
}

test_reference_geography_readable_record_by_record if {
	d := decide("dishub/atcs", {"dataset": "areas", "fields": ["kecamatan", "population"], "purpose": "traffic_planning", "legal_basis": basis.traffic_planning})
	allowed(d)
	d.obligations.aggregate_only == false
}

# --- spatial_planning -----------------------------------------------------------------

heatmap := {
	"dataset": "incidents",
	"fields": ["location", "occurred_at"],
	"filters": window(month(2025, 5), month(2025, 11)),
	"aggregation": counts([
		{"field": "location", "bucket": "h3", "h3_resolution": 8},
		{"field": "occurred_at", "bucket": "month"},
	]),
	"purpose": "spatial_planning",
	"legal_basis": basis.spatial_planning,
}

test_spatial_planning_heatmap_allowed_with_noise if {
	d := decide("citata/spatial", heatmap)
	allowed(d)
	d.obligations.epsilon == 1
	d.obligations.generalisation == {"place": "h3", "time": "month", "h3_max_resolution": 8}
	d.obligations.fields == ["location", "occurred_at"]
	reported_only in d.obligations.row_filters
}

test_spatial_planning_denies_window_beyond_its_span if {
	d := decide("citata/spatial", object.union(heatmap, {"filters": window(month(2024, 11), month(2025, 12))}))
	denied_because(d, "purpose 'spatial_planning' allows a time window of at most 366 days: bound 'occurred_at' by ge and lt filters at most that far apart")

	# 2023-12-01 to 2024-12-01: 366 days (2024 is a leap year).
	allowed(decide("citata/spatial", object.union(heatmap, {"filters": window(month(2023, 12), month(2024, 12))})))
}

test_spatial_planning_denies_open_window if {
	d := decide("citata/spatial", object.union(heatmap, {"filters": [{"field": "occurred_at", "op": "ge", "values": [now - day]}]}))
	denied_because(d, "purpose 'spatial_planning' allows a time window of at most 366 days: bound 'occurred_at' by ge and lt filters at most that far apart")
}

test_spatial_planning_heatmap_operation_allowed if {
	allowed(decide("citata/spatial", object.union(heatmap, {"operation": "heatmap"})))
}

test_operation_must_be_registered_for_the_purpose if {
	d := decide("citata/spatial", object.union(heatmap, {"operation": "patrol_plan"}))
	denied_because(d, "request.operation is not an operation registered for purpose 'spatial_planning'")
}

test_operation_must_be_a_string if {
	d := decide("citata/spatial", object.union(heatmap, {"operation": 7}))
	denied_because(d, "request.operation must be a string or null")
}

# --- patrol_planning and security_indicators (analytics operations) --------------------

weekly_cells := {
	"dataset": "incidents",
	"filters": last_days(364),
	"aggregation": counts([
		{"field": "location", "bucket": "h3", "h3_resolution": 8},
		{"field": "occurred_at", "bucket": "week"},
	]),
	"purpose": "patrol_planning",
	"legal_basis": basis.patrol_planning,
	"operation": "risk_scores",
}

test_patrol_planning_risk_scores_allowed_reported_only if {
	d := decide("polda-metro-jaya/samapta", weekly_cells)
	allowed(d)
	reported_only in d.obligations.row_filters
	d.obligations.min_cell_count == 5
	d.obligations.epsilon == data.registry.purposes.patrol_planning.epsilon
}

test_patrol_planning_not_for_city_systems if {
	d := decide("jsc/command-centre", weekly_cells)
	denied_because(d, "caller 'spiffe://gerbang.jakarta.go.id/jsc/command-centre' is not permitted to use purpose 'patrol_planning'")
}

test_patrol_planning_denies_security_index_operation if {
	d := decide("polda-metro-jaya/samapta", object.union(weekly_cells, {"operation": "security_index"}))
	denied_because(d, "request.operation is not an operation registered for purpose 'patrol_planning'")
}

# --- spans (ADR 0032): whole local weeks between explicit boundaries --------------------

# Monday 2025-11-24 00:00 WIB: the week start before `now` (a Saturday); the spans below are
# the 52, 4 and 1 weeks before it.
week_end := midnight - (5 * day)

week := 7 * day

span_boundaries := [week_end - (52 * week), week_end - (4 * week), week_end - week, week_end]

spans_request(boundaries, filters) := object.union(weekly_cells, {
	"filters": filters,
	"aggregation": counts([
		{"field": "location", "bucket": "h3", "h3_resolution": 8},
		{"field": "kecamatan", "bucket": "none"},
		{"field": "occurred_at", "bucket": "spans", "boundaries": boundaries},
	]),
	"operation": "patrol_plan",
})

spans_window := window(week_end - (52 * week), week_end)

test_spans_allowed_where_weeks_are if {
	allowed(decide("polda-metro-jaya/samapta", spans_request(span_boundaries, spans_window)))
}

test_spans_refused_where_weeks_are_not if {
	d := decide("citata/spatial", object.union(spans_request(span_boundaries, spans_window), {
		"purpose": "spatial_planning", "legal_basis": basis.spatial_planning, "operation": "heatmap",
	}))
	denied_because(d, "grouping 'occurred_at' by 'spans' is finer than the time generalisation 'month' of purpose 'spatial_planning'")
}

test_spans_boundaries_must_be_week_starts if {
	# A Tuesday 00:00 WIB, then a Monday 01:00 WIB.
	some moved in [day, 3600]
	b := [span_boundaries[0], span_boundaries[1] + moved, span_boundaries[2], span_boundaries[3]]
	d := decide("polda-metro-jaya/samapta", spans_request(b, spans_window))
	denied_because(d, "group-by 'occurred_at' by spans: every boundary must be a Monday 00:00 WIB (a local week start)")
}

test_spans_boundaries_strictly_increasing if {
	some b in [
		[span_boundaries[0], span_boundaries[2], span_boundaries[1], span_boundaries[3]],
		[span_boundaries[0], span_boundaries[1], span_boundaries[1], span_boundaries[3]],
	]
	d := decide("polda-metro-jaya/samapta", spans_request(b, spans_window))
	denied_because(d, "group-by 'occurred_at' by spans: boundaries must be strictly increasing")
}

spans_window_reason := "group-by 'occurred_at' by spans: the first and last boundaries must be the window, the request's 'ge' and 'lt' filters on 'occurred_at' (no other bound on it)"

test_spans_must_cover_exactly_the_window if {
	some b in [
		# inside the window, past it, before it
		[span_boundaries[1], span_boundaries[2], span_boundaries[3]],
		[span_boundaries[0], span_boundaries[3], week_end + week],
		[span_boundaries[0] - week, span_boundaries[1], span_boundaries[3]],
	]
	d := decide("polda-metro-jaya/samapta", spans_request(b, spans_window))
	denied_because(d, spans_window_reason)
}

test_spans_refuse_a_tighter_bound if {
	tighter := array.concat(spans_window, [bound("ge", span_boundaries[1])])
	d := decide("polda-metro-jaya/samapta", spans_request(span_boundaries, tighter))
	denied_because(d, spans_window_reason)
}

test_spans_shape if {
	some b in [[week_end], [], "x", [week_end - week, "x"]]
	d := decide("polda-metro-jaya/samapta", spans_request(b, spans_window))
	some r in d.reasons
	startswith(r, "group-by 3 must have a field name and a bucket")
	d.allow == false
}

test_spans_at_most_64_boundaries if {
	b := [t | some i in numbers.range(0, 64); t := week_end - ((64 - i) * week)]
	d := decide("polda-metro-jaya/samapta", spans_request(b, window(b[0], week_end)))
	d.allow == false
	some r in d.reasons
	startswith(r, "group-by 3 must have a field name and a bucket")
}

index_request := {
	"dataset": "incidents",
	"aggregation": counts([
		{"field": "kecamatan", "bucket": "none"},
		{"field": "status", "bucket": "none"},
		{"field": "occurred_at", "bucket": "month"},
	]),
	"filters": window(month(2024, 11), month(2025, 11)),
	"purpose": "security_indicators",
	"legal_basis": basis.security_indicators,
	"operation": "security_index",
}

test_security_indicators_for_executive_and_oversight if {
	every caller in ["jsc/command-centre", "dprd/komisi-a", "kompolnas/oversight"] {
		d := decide(caller, index_request)
		allowed(d)
		reported_only in d.obligations.row_filters
	}
}

test_security_indicators_deny_persons_and_cells if {
	d := decide("dprd/komisi-a", object.union(index_request, {"aggregation": counts([{"field": "location", "bucket": "h3", "h3_resolution": 8}])}))
	not d.allow
}

test_spatial_planning_denies_finer_cells if {
	d := decide("citata/spatial", object.union(heatmap, {"aggregation": counts([{"field": "location", "bucket": "h3", "h3_resolution": 9}])}))
	denied_because(d, "the h3 resolution of a group-by is finer than the maximum 8 of purpose 'spatial_planning'")
}

# Regression: a resolution sent as a float (9.0) must be denied like 9 in every engine.
test_spatial_planning_denies_finer_cells_given_as_float if {
	d := decide("citata/spatial", object.union(heatmap, {"aggregation": counts([{"field": "location", "bucket": "h3", "h3_resolution": 9.0}])}))
	not d.allow
}

test_spatial_planning_denies_raw_coordinates if {
	d := decide("citata/spatial", object.union(heatmap, {"fields": ["lat"], "aggregation": counts([{"field": "lat", "bucket": "none"}])}))
	denied_because(d, "grouping by raw coordinate 'lat' is not allowed: group by 'location' with bucket 'h3'")
}

test_spatial_planning_denies_daily_buckets if {
	d := decide("citata/spatial", object.union(heatmap, {"aggregation": counts([
		{"field": "location", "bucket": "h3", "h3_resolution": 8},
		{"field": "occurred_at", "bucket": "day"},
	])}))
	denied_because(d, "grouping 'occurred_at' by 'day' is finer than the time generalisation 'month' of purpose 'spatial_planning'")
}

test_spatial_planning_denies_filter_on_location if {
	d := decide("citata/spatial", object.union(heatmap, {"filters": [{"field": "location", "op": "eq", "values": ["88283082a3fffff"]}]}))
	denied_because(d, "filters cannot name 'location': filter on 'lat' and 'lon' instead")
}

test_spatial_planning_denies_location_outside_group_by if {
	d := decide("citata/spatial", object.union(heatmap, {"aggregation": counts([{"field": "occurred_at", "bucket": "month"}])}))
	denied_because(d, "field 'location' exists only as a group-by with bucket 'h3'")
}

# --- disaster_response ----------------------------------------------------------------

nearby := {
	"dataset": "incidents",
	"fields": ["category", "location"],
	"filters": window(now - (2 * day), now),
	"aggregation": counts([
		{"field": "category", "bucket": "none"},
		{"field": "location", "bucket": "h3", "h3_resolution": 9},
	]),
	"purpose": "disaster_response",
	"legal_basis": basis.disaster_response,
}

test_disaster_response_allowed_within_window if {
	d := decide("bpbd/pusdalops", nearby)
	allowed(d)
	d.obligations.max_window_days == 7
	d.obligations.row_filters == [
		{"field": "kota", "op": "in", "values": all_kota},
		{"field": "occurred_at", "op": "ge", "values": [now - (7 * day)]},
	]
}

test_disaster_response_window_boundary_is_allowed if {
	allowed(decide("bpbd/pusdalops", object.union(nearby, {"filters": window(now - (7 * day), now)})))
}

test_disaster_response_denies_older_window if {
	d := decide("bpbd/pusdalops", object.union(nearby, {"filters": [{"field": "occurred_at", "op": "ge", "values": [(now - (7 * day)) - 1]}]}))
	denied_because(d, "purpose 'disaster_response' covers only the last 7 days: add a filter 'occurred_at' ge 1763791200 or later")
}

test_disaster_response_denies_missing_window if {
	d := decide("bpbd/pusdalops", object.union(nearby, {"filters": []}))
	denied_because(d, "purpose 'disaster_response' covers only the last 7 days: add a filter 'occurred_at' ge 1763791200 or later")
}

# --- public_order_early_warning -------------------------------------------------------

alerts := {
	"dataset": "incidents",
	"fields": ["category", "kecamatan", "occurred_at"],
	"filters": last_days(30),
	"aggregation": counts([
		{"field": "kecamatan", "bucket": "none"},
		{"field": "occurred_at", "bucket": "day"},
		{"field": "category", "bucket": "none"},
	]),
	"purpose": "public_order_early_warning",
	"legal_basis": basis.public_order_early_warning,
}

test_public_order_city_wide_allowed if {
	d := decide("jsc/command-centre", alerts)
	allowed(d)
	d.obligations.row_filters[0] == {"field": "kota", "op": "in", "values": all_kota}
}

test_public_order_kota_caller_restricted_to_its_kota if {
	d := decide("pemkot-jaksel/command-centre", alerts)
	allowed(d)
	d.obligations.row_filters[0] == {"field": "kota", "op": "in", "values": ["Jakarta Selatan"]}
}

test_public_order_kota_caller_denied_other_kota if {
	d := decide("pemkot-jaksel/command-centre", object.union(alerts, {"filters": array.concat(last_days(30), [{"field": "kota", "op": "in", "values": ["Jakarta Selatan", "Jakarta Utara"]}])}))
	denied_because(d, "a filter on 'kota' names a kota outside the jurisdiction of caller 'spiffe://gerbang.jakarta.go.id/pemkot-jaksel/command-centre'")
	no_reason_quotes(d, "Jakarta Utara")
}

test_public_order_kota_caller_denied_other_kecamatan if {
	d := decide("pemkot-jaksel/command-centre", object.union(alerts, {"filters": array.concat(last_days(30), [{"field": "kecamatan", "op": "eq", "values": ["Koja"]}])}))
	denied_because(d, "a filter on 'kecamatan' names a kecamatan outside the jurisdiction of caller 'spiffe://gerbang.jakarta.go.id/pemkot-jaksel/command-centre'")
	no_reason_quotes(d, "Koja")
}

test_public_order_own_kecamatan_allowed if {
	allowed(decide("pemkot-jaksel/command-centre", object.union(alerts, {"filters": array.concat(last_days(30), [{"field": "kecamatan", "op": "eq", "values": ["Tebet"]}])})))
}

test_kecamatan_jurisdiction_adds_row_filter if {
	callers := object.union(data.registry.callers, {concat("", [federation, "pemkot-jaksel/command-centre"]): {
		"purposes": ["public_order_early_warning"],
		"jurisdiction": {"kota": ["Jakarta Selatan"], "kecamatan": ["Tebet", "Setiabudi"]},
	}})
	d := authz.decision with input as query("pemkot-jaksel/command-centre", alerts) with data.registry.callers as callers
	allowed(d)
	d.obligations.row_filters[1] == {"field": "kecamatan", "op": "in", "values": ["Setiabudi", "Tebet"]}
	d2 := authz.decision with input as query("pemkot-jaksel/command-centre", object.union(alerts, {"filters": array.concat(last_days(30), [{"field": "kecamatan", "op": "eq", "values": ["Cilandak"]}])}))
		with data.registry.callers as callers
	denied_because(d2, "a filter on 'kecamatan' names a kecamatan outside the jurisdiction of caller 'spiffe://gerbang.jakarta.go.id/pemkot-jaksel/command-centre'")
}

test_public_order_denies_hourly_buckets if {
	d := decide("jsc/command-centre", object.union(alerts, {"aggregation": counts([{"field": "occurred_at", "bucket": "hour_of_day"}]), "fields": ["occurred_at"]}))
	denied_because(d, "grouping 'occurred_at' by 'hour_of_day' is finer than the time generalisation 'day' of purpose 'public_order_early_warning'")
}

# --- stolen_vehicle_check -------------------------------------------------------------

plate_check := {
	"dataset": "vehicles",
	"filters": [{"field": "plate", "op": "eq", "values": ["B 1234 XYZ"]}],
	"aggregation": {"group_by": [], "measure": "exists"},
	"purpose": "stolen_vehicle_check",
	"legal_basis": basis.stolen_vehicle_check,
}

test_stolen_vehicle_check_hit_no_hit_allowed if {
	d := decide("dishub/parking", plate_check)
	allowed(d)
	d.obligations.row_filters == [{"field": "stolen", "op": "eq", "values": [true]}]
	d.obligations.max_rows == 1
	d.obligations.fields == []
}

test_stolen_vehicle_check_denies_count if {
	d := decide("dishub/parking", object.union(plate_check, {"aggregation": {"group_by": [], "measure": "count"}}))
	denied_because(d, "purpose 'stolen_vehicle_check' does not allow measure 'count'")
}

test_stolen_vehicle_check_denies_more_than_one_plate if {
	d := decide("dishub/parking", object.union(plate_check, {"filters": [{"field": "plate", "op": "in", "values": ["B 1234 XYZ", "B 9 ABC"]}]}))
	denied_because(d, "measure 'exists' needs exactly one filter, 'eq' on 'plate' with one value")
}

test_stolen_vehicle_check_denies_other_filters if {
	d := decide("dishub/parking", object.union(plate_check, {"filters": [
		{"field": "plate", "op": "eq", "values": ["B 1234 XYZ"]},
		{"field": "colour", "op": "eq", "values": ["hitam"]},
	]}))
	denied_because(d, "measure 'exists' needs exactly one filter, 'eq' on 'plate' with one value")
	denied_because(d, "purpose 'stolen_vehicle_check' does not grant field 'colour' of dataset 'vehicles'")
}

test_stolen_vehicle_check_denies_returning_fields if {
	d := decide("dishub/parking", object.union(plate_check, {"fields": ["plate"]}))
	denied_because(d, "field 'plate' is not a group-by field: an aggregated result carries only its group-by fields")
}

test_exists_only_for_stolen_vehicle_check if {
	d := decide("dishub/atcs", object.union(traffic, {"aggregation": {"group_by": [], "measure": "exists"}, "fields": []}))
	denied_because(d, "purpose 'traffic_planning' does not allow measure 'exists'")
}

test_stolen_vehicle_check_not_for_traffic_system if {
	d := decide("dishub/atcs", plate_check)
	denied_because(d, "caller 'spiffe://gerbang.jakarta.go.id/dishub/atcs' is not permitted to use purpose 'stolen_vehicle_check'")
}

# --- criminal_investigation -----------------------------------------------------------

investigation := {
	"dataset": "persons",
	"fields": ["person_id", "nik", "name", "address"],
	"filters": [{"field": "nik", "op": "eq", "values": ["3174011234560001"]}],
	"purpose": "criminal_investigation",
	"legal_basis": basis.criminal_investigation,
	"case_reference": "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA",
	"limit": 50,
}

reskrim := "polda-metro-jaya/reskrim"

test_criminal_investigation_record_level_allowed if {
	d := decide(reskrim, investigation)
	allowed(d)
	d.obligations.aggregate_only == false
	d.obligations.max_rows == 50
	d.obligations.fields == ["address", "name", "nik", "person_id"]

	# persons are not scoped by the residence kota: investigations cross kota lines
	d.obligations.row_filters == []

	# ... but by the case: the adapters return only the persons linked to its incidents
	d.obligations.case_binding == {
		"reference": "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA",
		"police_cases": ["LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"],
	}
}

test_criminal_investigation_binds_every_dataset_it_reads if {
	every name in ["incidents", "incident_persons", "vehicles", "cases"] {
		fields := data.registry.purposes.criminal_investigation.datasets[name].fields
		d := decide(reskrim, object.union(investigation, {"dataset": name, "fields": fields, "filters": []}))
		allowed(d)
		d.obligations.case_binding.reference == "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
	}
}

test_case_without_police_cases_denied if {
	ref := "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
	cases := {ref: object.remove(data.registry.cases[ref], ["police_cases"])}
	d := authz.decision with input as query(reskrim, investigation) with data.registry.cases as cases
	denied_because(d, "case 'LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA' names no police case that it covers: register its police_cases")
}

test_case_bound_purpose_denies_dataset_without_case_link if {
	cctv := {"event_time_field": null, "jurisdiction_scoped": false, "fields": {"face_id": {"class": "direct_identifier", "type": "string"}}}
	grant := {"fields": ["face_id"], "pseudonymised_fields": [], "row_filters": []}
	purposes := object.union(data.registry.purposes, {"criminal_investigation": object.union(
		data.registry.purposes.criminal_investigation,
		{"datasets": object.union(data.registry.purposes.criminal_investigation.datasets, {"cctv": grant})},
	)})
	q := query(reskrim, object.union(investigation, {"dataset": "cctv", "fields": ["face_id"], "filters": []}))
	d := authz.decision with input as q with data.registry.purposes as purposes with data.registry.datasets.cctv as cctv
	denied_because(d, "purpose 'criminal_investigation' reads dataset 'cctv' only within a case, and that dataset has no link to a case's incidents")
}

test_reference_geography_under_a_case_is_allowed if {
	d := decide(reskrim, object.union(investigation, {"dataset": "areas", "fields": ["kecamatan", "population"], "filters": []}))
	allowed(d)
}

test_criminal_investigation_requires_case if {
	d := decide(reskrim, object.union(investigation, {"case_reference": ""}))
	denied_because(d, "purpose 'criminal_investigation' requires a case reference")
}

test_criminal_investigation_denies_unknown_case if {
	d := decide(reskrim, object.union(investigation, {"case_reference": "LP/B/9999/XI/2026/SPKT/POLDA METRO JAYA"}))
	denied_because(d, "request.case_reference names no registered case")
	no_reason_quotes(d, "9999")
}

test_criminal_investigation_denies_expired_case if {
	d := decide(reskrim, object.union(investigation, {"case_reference": "LP/B/0456/III/2025/SPKT/POLDA METRO JAYA"}))
	denied_because(d, "case 'LP/B/0456/III/2025/SPKT/POLDA METRO JAYA' expired at 2025-09-30T23:59:59Z")
}

test_criminal_investigation_denies_case_not_yet_valid if {
	d := decide(reskrim, object.union(investigation, {"case_reference": "LP/B/2001/XII/2026/SPKT/POLDA METRO JAYA"}))
	denied_because(d, "case 'LP/B/2001/XII/2026/SPKT/POLDA METRO JAYA' is authorised only from 2026-12-01T00:00:00Z")
}

test_criminal_investigation_case_valid_through_last_second if {
	at_end := object.union(query(reskrim, investigation), {"time": {"now": 1814399999, "now_rfc3339": "2027-06-30T23:59:59Z"}})
	d := authz.decision with input as at_end
	allowed(d)
	after_end := object.union(query(reskrim, investigation), {"time": {"now": 1814400000, "now_rfc3339": "2027-07-01T00:00:00Z"}})
	d2 := authz.decision with input as after_end
	denied_because(d2, "case 'LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA' expired at 2027-06-30T23:59:59Z")
}

test_criminal_investigation_denies_case_of_another_caller if {
	cases := {"LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA": object.union(
		data.registry.cases["LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"],
		{"authorised_callers": ["spiffe://gerbang.jakarta.go.id/polres-jaksel/satreskrim"]},
	)}
	d := authz.decision with input as query(reskrim, investigation) with data.registry.cases as cases
	denied_because(d, "caller 'spiffe://gerbang.jakarta.go.id/polda-metro-jaya/reskrim' is not authorised for case 'LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA'")
}

test_criminal_investigation_denies_case_for_other_purpose if {
	cases := {"LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA": object.union(
		data.registry.cases["LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"],
		{"purpose": "stolen_vehicle_check"},
	)}
	d := authz.decision with input as query(reskrim, investigation) with data.registry.cases as cases
	denied_because(d, "case 'LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA' does not cover purpose 'criminal_investigation'")
}

test_criminal_investigation_denies_grouping_by_identifier if {
	d := decide(reskrim, object.union(investigation, {"fields": ["nik"], "aggregation": counts([{"field": "nik", "bucket": "none"}])}))
	denied_because(d, "grouping by direct identifier 'nik' is not allowed")
}

test_criminal_investigation_denies_bulk_export if {
	d := decide(reskrim, object.union(investigation, {"limit": 1001}))
	denied_because(d, "limit exceeds the maximum of 1000 rows for purpose 'criminal_investigation'")
}

test_criminal_investigation_needs_rfc3339_clock if {
	q := object.union(query(reskrim, investigation), {"time": {"now": now, "now_rfc3339": "2026-11-29 06:00:00"}})
	d := authz.decision with input as q
	denied_because(d, "input.time.now_rfc3339 must be a UTC time written YYYY-MM-DDTHH:MM:SSZ")
}

# --- the end user (rule requires_user) ---------------------------------------------------

no_user_reason := "purpose 'criminal_investigation' requires the end user behind the request (rule requires_user): sign the request with the user's commitment"

test_criminal_investigation_denies_request_without_user if {
	d := authz.decision with input as object.union(query(reskrim, investigation), {"user_committed": false})
	denied_because(d, no_user_reason)
}

test_criminal_investigation_denies_input_missing_user if {
	d := authz.decision with input as object.remove(query(reskrim, investigation), ["user_committed"])
	denied_because(d, no_user_reason)
}

test_user_committed_must_be_boolean if {
	d := authz.decision with input as object.union(query(reskrim, investigation), {"user_committed": "yes"})
	denied_because(d, "input.user_committed must be true or false")
	denied_because(d, no_user_reason)
}

test_aggregate_purpose_needs_no_user if {
	d := authz.decision with input as object.union(query("dishub/atcs", traffic), {"user_committed": false})
	allowed(d)
}

test_any_purpose_may_require_a_user if {
	purposes := object.union(data.registry.purposes, {"traffic_planning": object.union(
		data.registry.purposes.traffic_planning,
		{"requires_user": true},
	)})
	q := object.union(query("dishub/atcs", traffic), {"user_committed": false})
	d := authz.decision with input as q with data.registry.purposes as purposes
	denied_because(d, "purpose 'traffic_planning' requires the end user behind the request (rule requires_user): sign the request with the user's commitment")
	d2 := authz.decision with input as query("dishub/atcs", traffic) with data.registry.purposes as purposes
	allowed(d2)
}

# --- oversight_statistics -------------------------------------------------------------

indicators := {
	"dataset": "incidents",
	"fields": ["category", "kota", "occurred_at", "status"],
	"aggregation": counts([
		{"field": "kota", "bucket": "none"},
		{"field": "occurred_at", "bucket": "month"},
		{"field": "category", "bucket": "none"},
		{"field": "status", "bucket": "none"},
	]),
	"filters": window(month(2024, 11), month(2025, 11)),
	"purpose": "oversight_statistics",
	"legal_basis": basis.oversight_statistics,
}

test_oversight_statistics_allowed_for_both_bodies if {
	allowed(decide("dprd/komisi-a", indicators))
	allowed(decide("kompolnas/oversight", indicators))
	opened := [object.union(b, {"field": "opened_at"}) | some b in window(month(2024, 11), month(2025, 11))]
	allowed(decide("kompolnas/oversight", {"dataset": "cases", "fields": ["status", "unit"], "filters": opened, "aggregation": counts([{"field": "status", "bucket": "none"}, {"field": "unit", "bucket": "none"}]), "purpose": "oversight_statistics", "legal_basis": basis.oversight_statistics}))
}

test_oversight_statistics_denies_kelurahan if {
	d := decide("dprd/komisi-a", object.union(indicators, {"fields": ["kelurahan"], "aggregation": counts([{"field": "kelurahan", "bucket": "none"}])}))
	denied_because(d, "purpose 'oversight_statistics' does not grant field 'kelurahan' of dataset 'incidents'")
}

test_oversight_statistics_denies_case_numbers if {
	d := decide("kompolnas/oversight", {"dataset": "cases", "fields": ["case_number"], "purpose": "oversight_statistics", "legal_basis": basis.oversight_statistics, "aggregation": counts([{"field": "case_number", "bucket": "none"}])})
	denied_because(d, "purpose 'oversight_statistics' does not grant field 'case_number' of dataset 'cases'")
}

test_oversight_statistics_denies_daily_buckets if {
	d := decide("dprd/komisi-a", object.union(indicators, {"aggregation": counts([{"field": "occurred_at", "bucket": "day"}]), "fields": ["occurred_at"]}))
	denied_because(d, "grouping 'occurred_at' by 'day' is finer than the time generalisation 'month' of purpose 'oversight_statistics'")
}

# --- registry and input checks --------------------------------------------------------

test_unknown_caller_denied if {
	d := decide("dishub/unknown", traffic)
	denied_because(d, "caller 'spiffe://gerbang.jakarta.go.id/dishub/unknown' is not registered")
}

test_unknown_purpose_denied if {
	d := decide("dishub/atcs", object.union(traffic, {"purpose": "marketing"}))
	denied_because(d, "request.purpose names no registered purpose")
	no_reason_quotes(d, "marketing")
}

test_legal_basis_must_match_exactly if {
	d := decide("dishub/atcs", object.union(traffic, {"legal_basis": "UU 22/2009"}))
	denied_because(d, "request.legal_basis does not match the registered basis of purpose 'traffic_planning': 'UU 27/2022 Pasal 20 ayat (2) huruf e; UU 22/2009'")
}

test_unknown_dataset_and_field_denied if {
	d := decide("dishub/atcs", object.union(traffic, {"dataset": "cctv"}))
	denied_because(d, "request.dataset names no registered dataset")
	no_reason_quotes(d, "cctv")
	d2 := decide("dishub/atcs", object.union(traffic, {"fields": ["kecamatan", "weather"]}))
	denied_because(d2, "the request names a field that dataset 'incidents' does not have (in fields, a filter or a group-by)")
	no_reason_quotes(d2, "weather")
}

test_unprintable_values_not_echoed if {
	d := decide("dishub/atcs", object.union(traffic, {"dataset": "inc\"idents"}))
	denied_because(d, "request.dataset names no registered dataset")
}

test_limit_within_volume_narrows_max_rows if {
	d := decide("dishub/atcs", object.union(traffic, {"limit": 20}))
	d.obligations.max_rows == 20
	denied_because(decide("dishub/atcs", object.union(traffic, {"limit": 5001})), "limit exceeds the maximum of 5000 rows for purpose 'traffic_planning'")
}

test_malformed_filters_denied if {
	d := decide("dishub/atcs", object.union(traffic, {"filters": [
		{"field": "kota", "op": "like", "values": ["Jakarta%"]},
		{"field": "kota", "op": "eq", "values": ["Jakarta Barat", "Jakarta Timur"]},
		{"field": "kota", "op": "in", "values": []},
		{"field": 7, "op": "in", "values": [{"nested": true}]},
		"kota = 'x'",
	]}))
	denied_because(d, "filter 1 has an unknown op; use one of eq, ne, lt, le, gt, ge, in, not_in")
	denied_because(d, "filter 2: op 'eq' takes exactly one value")
	denied_because(d, "filter 3 must have a list of 1 to 100 values, each a string, number or boolean")
	denied_because(d, "filter 4 must name its field as a string")
	denied_because(d, "filter 5 must name its field as a string")
}

test_filter_value_types_checked if {
	d := decide("dishub/atcs", object.union(traffic, {"filters": [
		{"field": "occurred_at", "op": "ge", "values": ["2026-11-01"]},
		{"field": "kota", "op": "gt", "values": ["A"]},
	]}))
	denied_because(d, "filter on 'occurred_at' needs whole epoch seconds as values")
	denied_because(d, "op 'gt' needs a time or number field, and 'kota' is neither")
}

test_missing_and_mistyped_input_denied if {
	d := authz.decision with input as {}
	d.allow == false
	"input.request must be an object" in d.reasons
	"input.caller.id must be a string (the SAN URI of the caller's certificate)" in d.reasons
	"input.time.now must be whole epoch seconds between 2020 and 2100" in d.reasons
	q := object.union(query("dishub/atcs", traffic), {"request": object.union(traffic, {"fields": "kecamatan", "limit": -1, "filters": {}, "aggregation": "daily", "case_reference": 0})})
	d2 := authz.decision with input as q
	denied_because(d2, "request.fields must be a list of field names")
	denied_because(d2, "request.limit must be a whole number of rows, 0 for no limit")
	denied_because(d2, "request.filters must be a list")
	denied_because(d2, "request.aggregation must be null (record level) or an object")
	denied_because(d2, "request.case_reference must be a string")
}

test_missing_aggregation_key_is_not_record_level if {
	q := query("dishub/atcs", traffic)
	d := authz.decision with input as json.remove(q, ["request/aggregation"])
	denied_because(d, "request.aggregation must be null (record level) or an object")
}

test_malformed_group_by_denied if {
	d := decide("dishub/atcs", object.union(traffic, {"aggregation": {"group_by": [{"field": "kecamatan", "bucket": "fortnight"}, {"field": "location", "bucket": "h3"}], "measure": "sum"}}))
	denied_because(d, "group-by 1 must have a field name and a bucket (none, hour_of_day, day_of_week, day, week, month, h3, spans; h3 with h3_resolution 0 to 15, spans with 2 to 64 boundaries in epoch seconds)")
	denied_because(d, "group-by 2 must have a field name and a bucket (none, hour_of_day, day_of_week, day, week, month, h3, spans; h3 with h3_resolution 0 to 15, spans with 2 to 64 boundaries in epoch seconds)")
	denied_because(d, "aggregation.measure must be 'count' or 'exists'")
}

test_clock_outside_plausible_range_denied if {
	q := object.union(query("dishub/atcs", traffic), {"time": {"now": 5, "now_rfc3339": "1970-01-01T00:00:05Z"}})
	d := authz.decision with input as q
	denied_because(d, "input.time.now must be whole epoch seconds between 2020 and 2100")
}

test_reasons_are_sorted if {
	d := decide("dishub/unknown", object.union(traffic, {"purpose": "marketing", "dataset": "cctv"}))
	count(d.reasons) >= 3
	d.reasons == sort(d.reasons)
}

test_pseudonymised_fields_come_from_the_grant if {
	purposes := json.patch(data.registry.purposes, [{"op": "replace", "path": "/criminal_investigation/datasets/persons/pseudonymised_fields", "value": ["nik"]}])
	d := authz.decision with input as query(reskrim, investigation) with data.registry.purposes as purposes
	allowed(d)
	d.obligations.pseudonymised_fields == ["nik"]
}

test_group_by_shapes_checked if {
	d := decide("dishub/atcs", object.union(traffic, {"fields": [], "aggregation": counts([
		{"field": "location", "bucket": "none"},
		{"field": "kota", "bucket": "h3", "h3_resolution": 7},
		{"field": "location", "bucket": "h3", "h3_resolution": 7},
		{"field": "kecamatan", "bucket": "day"},
	])}))
	denied_because(d, "group-by 'location' needs bucket 'h3'")
	denied_because(d, "bucket 'h3' applies only to the field 'location', not 'kota'")
	denied_because(d, "purpose 'traffic_planning' does not allow h3 cells")
	denied_because(d, "bucket 'day' applies only to time fields, not 'kecamatan'")
	d2 := decide("dishub/parking", object.union(plate_check, {"aggregation": {"group_by": [{"field": "colour", "bucket": "none"}], "measure": "exists"}}))
	denied_because(d2, "measure 'exists' takes no group-by fields")
	d3 := decide("dishub/atcs", object.union(traffic, {"aggregation": {"group_by": "kota", "measure": "count"}}))
	denied_because(d3, "aggregation.group_by must be a list")
}

test_record_level_needs_fields if {
	d := decide(reskrim, object.union(investigation, {"fields": []}))
	denied_because(d, "a record-level query must name at least one field")
}

test_boolean_and_integer_filters_allowed if {
	allowed(decide(reskrim, object.union(investigation, {"dataset": "vehicles", "fields": ["plate"], "filters": [{"field": "stolen", "op": "eq", "values": [true]}]})))
	allowed(decide("dishub/atcs", {"dataset": "areas", "fields": ["kecamatan"], "filters": [{"field": "population", "op": "ge", "values": [100000]}], "purpose": "traffic_planning", "legal_basis": basis.traffic_planning}))
}

test_missing_legal_basis_denied if {
	q := query("dishub/atcs", traffic)
	d := authz.decision with input as json.remove(q, ["request/legal_basis"])
	denied_because(d, "request.legal_basis must be a string")
}

test_duplicate_fields_granted_once if {
	d := decide("dishub/atcs", object.union(traffic, {"fields": ["occurred_at", "kecamatan", "occurred_at"]}))
	allowed(d)
	d.obligations.fields == ["kecamatan", "occurred_at"]
}

test_no_reason_but_nothing_to_allow_is_still_denied if {
	d := authz.decision with input as {} with authz.reasons as set()
	d == {"allow": false, "reasons": ["the policy reached no decision for this request"], "obligations": {}}
}

# --- counts that cannot be differenced (ADR 0009) -------------------------------------

test_counts_window_moved_by_a_second_is_refused if {
	d := decide("dishub/atcs", object.union(traffic, {"filters": window(month(2025, 11), midnight + 1)}))
	denied_because(d, "purpose 'traffic_planning' releases counts on the 'hour' grid (WIB): the bound on 'occurred_at' must fall on it")
}

test_counts_window_must_fall_on_the_purpose_grid if {
	# An hour boundary is not a day boundary for a purpose generalised to days.
	d := decide("jsc/command-centre", object.union(alerts, {"filters": window(midnight - (30 * day), now)}))
	denied_because(d, "purpose 'public_order_early_warning' releases counts on the 'day' grid (WIB): the bound on 'occurred_at' must fall on it")

	# A day boundary is not a month boundary.
	d2 := decide("citata/spatial", object.union(heatmap, {"filters": window(month(2025, 5), midnight)}))
	denied_because(d2, "purpose 'spatial_planning' releases counts on the 'month' grid (WIB): the bound on 'occurred_at' must fall on it")

	# A filter without the gateway's grid annotation is on no grid.
	d3 := decide("dishub/atcs", object.union(traffic, {"filters": [
		{"field": "occurred_at", "op": "ge", "values": [month(2025, 11)]},
		bound("lt", midnight),
	]}))
	not d3.allow
}

test_counts_time_only_as_a_window if {
	every op in ["gt", "le", "eq", "in"] {
		d := decide("dishub/atcs", object.union(traffic, {"filters": array.concat(window(month(2025, 11), midnight), [{"field": "occurred_at", "op": op, "values": [midnight - day], "aligned": grids(midnight - day)}])}))
		denied_because(d, sprintf("purpose 'traffic_planning' releases counts: time field 'occurred_at' may only be bounded by 'ge' and 'lt' (a window)", []))
	}
}

test_counts_need_a_bounded_window if {
	d := decide("dishub/atcs", object.union(traffic, {"filters": [bound("ge", month(2025, 11))]}))
	denied_because(d, "purpose 'traffic_planning' releases counts only over a window: bound 'occurred_at' by a 'ge' and an 'lt' filter")
}

test_counts_refuse_coordinate_boxes if {
	d := decide("bpbd/pusdalops", object.union(nearby, {"filters": array.concat(window(now - (2 * day), now), [
		{"field": "lat", "op": "ge", "values": [-6.3]},
		{"field": "lat", "op": "lt", "values": [-6.2]},
	])}))
	denied_because(d, "purpose 'disaster_response' releases counts: filter on published areas (kota, kecamatan, kelurahan), not on coordinate 'lat'")
}

test_counts_refuse_complements if {
	every op in ["ne", "not_in"] {
		d := decide("dishub/atcs", object.union(traffic, {"filters": array.concat(window(month(2025, 11), midnight), [{"field": "category", "op": op, "values": ["pencurian"]}])}))
		denied_because(d, sprintf("purpose 'traffic_planning' releases counts: op '%s' on 'category' is refused (a complement differs from the whole by what it leaves out)", [op]))
	}
}

test_counts_refuse_ranges_on_other_fields if {
	d := decide("dishub/atcs", object.union(traffic, {"filters": array.concat(window(month(2025, 11), midnight), [{"field": "kecamatan", "op": "ge", "values": ["Tebet"]}])}))
	not d.allow
}

test_counts_obligations_carry_noise_for_every_aggregate_purpose if {
	counting := [name |
		some name, p in data.registry.purposes
		p.aggregate_only == true
		"count" in p.measures
	]
	count(counting) >= 6
	every name in counting {
		is_number(data.registry.purposes[name].epsilon)
	}
}

test_disaster_window_start_rounded_up_to_the_hour if {
	q := object.union(query("bpbd/pusdalops", object.union(nearby, {"filters": window(now - (2 * day), now)})), {"time": {"now": now + 59, "now_rfc3339": "2025-11-29T06:00:59Z"}})
	d := authz.decision with input as q
	d.allow
	{"field": "occurred_at", "op": "ge", "values": [(now - (7 * day)) + 3600]} in d.obligations.row_filters
}
