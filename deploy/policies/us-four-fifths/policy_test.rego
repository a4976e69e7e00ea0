# Tests for the US four-fifths pack; run with
# `fedgov policy test deploy/policies/us-four-fifths`.
#
# The tests call verdict(inp) rather than `decision with input as inp`:
# rego-cpp 1.5.2 aborts on `with input as` over rules that use builtins.
package fedgov_test

import rego.v1

group(n, rate) := {"count": n, "positives": n / 2, "negatives": n / 2, "selection_rate": rate, "tpr": 0.8, "fpr": 0.1, "accuracy": 0.8}

empty := {"count": 0, "positives": 0, "negatives": 0, "selection_rate": null, "tpr": null, "fpr": null, "accuracy": null}

fair := {
	"model": {"id": "credit-risk", "version": "3"},
	"silo": "bank-a",
	"jurisdiction": "US-CA",
	"window": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-08T00:00:00+00:00"},
	"sample_size": 1000,
	"fairness": {
		"sex": {
			"demographic_parity_ratio": 0.9,
			"groups": {"F": group(480, 0.45), "M": group(520, 0.5), "__other__": empty, "__missing__": empty},
		},
		"age_band": {
			"demographic_parity_ratio": 0.95,
			"groups": {"<30": group(300, 0.475), "30+": group(700, 0.5)},
		},
		"sex*age_band": {
			"demographic_parity_ratio": 0.5,
			"groups": {"F|<30": group(150, 0.3), "F|30+": group(330, 0.52), "M|<30": group(150, 0.6), "M|30+": group(370, 0.46)},
		},
	},
}

with_rate(inp, attribute, g, rate) := json.patch(inp, [{"op": "replace", "path": ["fairness", attribute, "groups", g, "selection_rate"], "value": rate}])

test_fair_model_is_allowed if {
	d := data.fedgov.verdict(fair)
	d.allow == true
	count(d.deny) == 0
	count(d.warn) == 0
	count(d.actions) == 0
}

test_adverse_impact_denies_and_retrains if {
	d := data.fedgov.verdict(with_rate(fair, "sex", "F", 0.35))
	d.allow == false
	d.deny == {"four-fifths rule: attribute sex has disparate impact 0.7000 < 0.8 (group F selection rate 0.3500 vs 0.5000 for group M)"}
	d.actions == {"retrain"}
}

test_ratio_at_four_fifths_is_allowed if {
	d := data.fedgov.verdict(with_rate(fair, "sex", "F", 0.4))
	d.allow == true
}

test_ratio_is_recomputed_from_groups_not_read if {
	inp := json.patch(fair, [{"op": "replace", "path": "/fairness/sex/demographic_parity_ratio", "value": 0.1}])
	d := data.fedgov.verdict(inp)
	d.allow == true
}

test_small_group_is_left_out_with_a_warning if {
	inp := json.patch(fair, [{"op": "add", "path": "/fairness/sex/groups/X", "value": group(12, 0.05)}])
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {"four-fifths rule: attribute sex leaves out groups with fewer than 30 rows: X (12 rows)"}
}

test_group_at_min_size_takes_part if {
	inp := json.patch(fair, [{"op": "add", "path": "/fairness/sex/groups/X", "value": group(30, 0.05)}])
	d := data.fedgov.verdict(inp)
	d.allow == false
	d.deny == {"four-fifths rule: attribute sex has disparate impact 0.1000 < 0.8 (group X selection rate 0.0500 vs 0.5000 for group M)"}
}

test_other_and_missing_slots_never_take_part if {
	inp := json.patch(fair, [
		{"op": "replace", "path": "/fairness/sex/groups/__missing__", "value": group(200, 0.01)},
		{"op": "replace", "path": "/fairness/sex/groups/__other__", "value": group(200, 0.01)},
	])
	d := data.fedgov.verdict(inp)
	d.allow == true
	count(d.warn) == 0
}

test_intersections_are_skipped_by_default if {
	d := data.fedgov.verdict(fair)
	d.allow == true
}

test_us_ny_thresholds_include_intersections if {
	inp := json.patch(fair, [{"op": "replace", "path": "/jurisdiction", "value": "US-NY"}])
	d := data.fedgov.verdict(inp)
	d.allow == false
	d.deny == {"four-fifths rule: attribute sex*age_band has disparate impact 0.5000 < 0.8 (group F|<30 selection rate 0.3000 vs 0.6000 for group M|<30)"}
	d.actions == {"retrain"}
}

test_null_selection_rate_is_skipped if {
	d := data.fedgov.verdict(with_rate(fair, "sex", "F", null))
	d.allow == true
	d.warn == {"four-fifths rule: attribute sex not assessed: fewer than 2 groups with at least 30 rows"}
}

test_nobody_selected_is_not_assessed if {
	inp := with_rate(with_rate(fair, "sex", "F", 0), "sex", "M", 0)
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {"four-fifths rule: attribute sex not assessed: no group was selected (every selection rate is 0)"}
}

test_attribute_without_groups_reads_the_reported_ratio if {
	inp := json.patch(fair, [
		{"op": "remove", "path": "/fairness/sex/groups"},
		{"op": "replace", "path": "/fairness/sex/demographic_parity_ratio", "value": 0.6},
	])
	d := data.fedgov.verdict(inp)
	d.deny == {"four-fifths rule: attribute sex has disparate impact 0.6000 < 0.8 (as reported; no group counts)"}
}

test_missing_fairness_section_denies if {
	d := data.fedgov.verdict(json.remove(fair, ["fairness"]))
	d.allow == false
	d.deny == {"input.fairness is missing or not an object: the four-fifths rule cannot be assessed"}
	count(d.actions) == 0
}

test_no_attribute_warns if {
	d := data.fedgov.verdict(json.patch(fair, [{"op": "replace", "path": "/fairness", "value": {}}]))
	d.allow == true
	d.warn == {"four-fifths rule: no protected attribute in input.fairness, nothing assessed"}
}

test_thresholds_come_from_data_per_jurisdiction if {
	t := {
		"default": {"four_fifths_min": 0.8, "min_group_size": 30, "include_intersections": false},
		"US-*": {"four_fifths_min": 0.95},
	}
	d := data.fedgov.verdict(fair) with data.fedgov.thresholds as t
	d.deny == {"four-fifths rule: attribute sex has disparate impact 0.9000 < 0.95 (group F selection rate 0.4500 vs 0.5000 for group M)"}
	eu := json.patch(fair, [{"op": "replace", "path": "/jurisdiction", "value": "EU-DE"}])
	data.fedgov.verdict(eu).allow with data.fedgov.thresholds as t
}

test_missing_threshold_denies_without_judging if {
	t := {"default": {"four_fifths_min": 0.8, "include_intersections": "yes"}}
	d := data.fedgov.verdict(with_rate(fair, "sex", "F", 0.1)) with data.fedgov.thresholds as t
	d.allow == false
	d.deny == {
		"policy data: threshold min_group_size for jurisdiction US-CA is missing or not a number (data.fedgov.thresholds)",
		"policy data: threshold include_intersections for jurisdiction US-CA is missing or not a boolean (data.fedgov.thresholds)",
	}
	count(d.actions) == 0
}
