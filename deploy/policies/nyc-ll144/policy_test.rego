# Tests for the NYC Local Law 144 pack; run with
# `fedgov policy test deploy/policies/nyc-ll144`.
#
# The tests call verdict(inp) rather than `decision with input as inp`:
# rego-cpp 1.5.2 aborts on `with input as` over rules that use builtins.
package fedgov_test

import rego.v1

group(n, rate) := {"count": n, "positives": n / 2, "negatives": n / 2, "selection_rate": rate, "tpr": 0.8, "fpr": 0.1, "accuracy": 0.8}

empty := {"count": 0, "positives": 0, "negatives": 0, "selection_rate": null, "tpr": null, "fpr": null, "accuracy": null}

fair := {
	"model": {"id": "screening", "version": "7"},
	"silo": "nyc-hr",
	"jurisdiction": "US-CA",
	"window": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-08T00:00:00+00:00"},
	"sample_size": 1000,
	"fairness": {
		"sex": {"groups": {"F": group(500, 0.45), "M": group(500, 0.5), "__missing__": empty}},
		"sex*race": {"groups": {
			"F|A": group(250, 0.45),
			"F|B": group(250, 0.45),
			"M|A": group(250, 0.5),
			"M|B": group(250, 0.5),
			"F|__missing__": empty,
		}},
	},
}

sex_only := json.remove(fair, ["fairness/sex*race"])

with_group(inp, attribute, g, value) := json.patch(inp, [{"op": "add", "path": ["fairness", attribute, "groups", g], "value": value}])

test_every_impact_ratio_is_reported if {
	d := data.fedgov.verdict(fair)
	d.allow == true
	count(d.deny) == 0
	d.warn == {
		"LL144 impact ratio: sex category F = 0.9000 (selection rate 0.4500, 500 rows)",
		"LL144 impact ratio: sex category M = 1.0000 (selection rate 0.5000, 500 rows)",
		"LL144 impact ratio: sex*race category F|A = 0.9000 (selection rate 0.4500, 250 rows)",
		"LL144 impact ratio: sex*race category F|B = 0.9000 (selection rate 0.4500, 250 rows)",
		"LL144 impact ratio: sex*race category M|A = 1.0000 (selection rate 0.5000, 250 rows)",
		"LL144 impact ratio: sex*race category M|B = 1.0000 (selection rate 0.5000, 250 rows)",
	}
	count(d.actions) == 0
}

test_low_impact_ratio_of_an_intersection_denies if {
	inp := with_group(fair, "sex*race", "F|B", group(250, 0.3))
	d := data.fedgov.verdict(inp)
	d.allow == false
	d.deny == {"LL144: sex*race category F|B has impact ratio 0.6000 < 0.8 (selection rate 0.3000 vs 0.5000 for M|A)"}
	d.actions == {"retrain"}
}

test_every_low_category_is_named if {
	inp := with_group(with_group(sex_only, "sex", "X", group(100, 0.1)), "sex", "F", group(500, 0.2))
	d := data.fedgov.verdict(inp)
	d.deny == {
		"LL144: sex category F has impact ratio 0.4000 < 0.8 (selection rate 0.2000 vs 0.5000 for M)",
		"LL144: sex category X has impact ratio 0.2000 < 0.8 (selection rate 0.1000 vs 0.5000 for M)",
	}
}

test_impact_ratio_at_threshold_is_allowed if {
	d := data.fedgov.verdict(with_group(sex_only, "sex", "F", group(500, 0.4)))
	d.allow == true
}

test_small_category_counts_by_default if {
	inp := with_group(sex_only, "sex", "X", group(10, 0.1))
	d := data.fedgov.verdict(inp)
	d.allow == false
	"LL144: sex category X has impact ratio 0.2000 < 0.8 (selection rate 0.1000 vs 0.5000 for M)" in d.deny
}

test_us_ny_leaves_out_categories_under_two_percent if {
	inp := json.patch(with_group(sex_only, "sex", "X", group(10, 0.1)), [{"op": "replace", "path": "/jurisdiction", "value": "US-NY"}])
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {
		"LL144 impact ratio: sex category F = 0.9000 (selection rate 0.4500, 500 rows)",
		"LL144 impact ratio: sex category M = 1.0000 (selection rate 0.5000, 500 rows)",
		"LL144: sex leaves out of the impact ratios categories under 0.02 of its 1010 rows: X (10 rows, selection rate 0.1000)",
	}
}

test_category_at_two_percent_is_kept if {
	inp := json.patch(with_group(sex_only, "sex", "X", group(40, 0.1)), [{"op": "replace", "path": "/jurisdiction", "value": "US-NY"}])
	d := data.fedgov.verdict(inp)
	d.allow == false
}

test_unknown_category_rows_are_reported_not_rated if {
	inp := with_group(sex_only, "sex", "__missing__", group(30, 0.01))
	d := data.fedgov.verdict(inp)
	d.allow == true
	"LL144: sex has 30 rows in an unknown category, not in the impact ratios" in d.warn
}

test_null_selection_rate_is_skipped if {
	inp := with_group(sex_only, "sex", "F", {"count": 500, "selection_rate": null})
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {"LL144: sex not assessed: fewer than 2 categories with a selection rate above 0"}
}

test_nobody_selected_is_not_assessed if {
	inp := with_group(with_group(sex_only, "sex", "F", group(500, 0)), "sex", "M", group(500, 0))
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {"LL144: sex not assessed: fewer than 2 categories with a selection rate above 0"}
}

test_missing_fairness_section_denies if {
	d := data.fedgov.verdict(json.remove(fair, ["fairness"]))
	d.allow == false
	d.deny == {"input.fairness is missing or not an object: impact ratios cannot be computed"}
	count(d.actions) == 0
}

test_thresholds_come_from_data_per_jurisdiction if {
	t := {
		"default": {"impact_ratio_min": 0.8, "small_category_share": 0.02, "exclude_small_categories": false},
		"US-*": {"impact_ratio_min": 0.95},
	}
	d := data.fedgov.verdict(sex_only) with data.fedgov.thresholds as t
	d.deny == {"LL144: sex category F has impact ratio 0.9000 < 0.95 (selection rate 0.4500 vs 0.5000 for M)"}
}

test_missing_threshold_denies_without_judging if {
	t := {"default": {"impact_ratio_min": "0.8", "exclude_small_categories": false}}
	d := data.fedgov.verdict(with_group(sex_only, "sex", "F", group(500, 0.1))) with data.fedgov.thresholds as t
	d.allow == false
	d.deny == {
		"policy data: threshold impact_ratio_min for jurisdiction US-CA is missing or not a number (data.fedgov.thresholds)",
		"policy data: threshold small_category_share for jurisdiction US-CA is missing or not a number (data.fedgov.thresholds)",
	}
	count(d.warn) == 0
	count(d.actions) == 0
}
