# Tests for the EU pack; run with `fedgov policy test deploy/policies/eu`.
#
# The tests call verdict_at(inp, now) with a fixed clock rather than
# `decision with input as inp`: rego-cpp 1.5.2 aborts on `with input as`
# over rules that use builtins, and the clock must not move under a test.
package fedgov_test

import rego.v1

# 2024-01-08T06:00:00Z, six hours after the window below ends.
now := 1704693600000000000

healthy := {
	"model": {"id": "credit-risk", "version": "3"},
	"silo": "bank-de",
	"jurisdiction": "EU-DE",
	"window": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-08T00:00:00Z"},
	"sample_size": 1000,
	"drift": {"features": {
		"age": {"psi": 0.05, "psi_pvalue": 0.4, "missing_rate": 0.0},
		"income": {"psi": 0.1, "psi_pvalue": 0.2, "missing_rate": 0.01},
	}},
	"fairness": {
		"sex": {
			"demographic_parity_difference": 0.05,
			"demographic_parity_ratio": 0.9,
			"equalized_odds_difference": 0.08,
			"groups": {
				"F": {"count": 480, "selection_rate": 0.45, "tpr": 0.8, "fpr": 0.1},
				"M": {"count": 520, "selection_rate": 0.5, "tpr": 0.82, "fpr": 0.12},
			},
		},
		"sex*age_band": {
			"demographic_parity_difference": 0.3,
			"equalized_odds_difference": 0.3,
			"groups": {},
		},
	},
}

patched(inp, path, value) := json.patch(inp, [{"op": "replace", "path": path, "value": value}])

drifted := patched(healthy, ["drift", "features", "age"], {"psi": 0.35, "psi_pvalue": 0.001, "missing_rate": 0.0})

review := "human review required: a person must review this decision before the model version serves again (human oversight)"

test_healthy_model_is_allowed if {
	d := data.fedgov.verdict_at(healthy, now)
	d.allow == true
	count(d.deny) == 0
	count(d.warn) == 0
	count(d.actions) == 0
}

test_significant_drift_denies_retrains_and_blocks_for_review if {
	d := data.fedgov.verdict_at(drifted, now)
	d.allow == false
	d.deny == {"drift: feature age has PSI 0.3500 > 0.2 (p-value 0.001 < 0.01)"}
	d.actions == {"retrain", "block"}
	d.warn == {review}
}

test_drift_without_significance_is_allowed if {
	d := data.fedgov.verdict_at(patched(healthy, ["drift", "features", "age", "psi"], 0.35), now)
	d.allow == true
}

test_demographic_parity_difference_denies if {
	d := data.fedgov.verdict_at(patched(healthy, ["fairness", "sex", "demographic_parity_difference"], 0.15), now)
	d.deny == {"fairness: attribute sex has demographic parity difference 0.1500 > 0.1"}
	d.actions == {"retrain", "block"}
}

test_equalized_odds_difference_denies if {
	d := data.fedgov.verdict_at(patched(healthy, ["fairness", "sex", "equalized_odds_difference"], 0.2), now)
	d.deny == {"fairness: attribute sex has equalized odds difference 0.2000 > 0.1"}
}

test_difference_at_threshold_is_allowed if {
	d := data.fedgov.verdict_at(patched(healthy, ["fairness", "sex", "demographic_parity_difference"], 0.1), now)
	d.allow == true
}

test_intersections_only_when_configured if {
	t := {"default": object.union(data.fedgov.thresholds.default, {"include_intersections": true})}
	d := data.fedgov.verdict_at(healthy, now) with data.fedgov.thresholds as t
	d.deny == {
		"fairness: attribute sex*age_band has demographic parity difference 0.3000 > 0.1",
		"fairness: attribute sex*age_band has equalized odds difference 0.3000 > 0.1",
	}
}

test_small_sample_gives_no_verdict_and_no_metric_deny if {
	inp := patched(patched(drifted, ["sample_size"], 50), ["fairness", "sex", "demographic_parity_difference"], 0.5)
	d := data.fedgov.verdict_at(inp, now)
	d.allow == true
	d.warn == {"sample size 50 < 200: no verdict on drift, fairness or data quality for this window"}
	count(d.actions) == 0
}

test_missing_rate_warns if {
	d := data.fedgov.verdict_at(patched(healthy, ["drift", "features", "income", "missing_rate"], 0.2), now)
	d.allow == true
	d.warn == {"data quality: feature income has missing rate 0.2000 > 0.05"}
}

test_stale_window_denies_even_without_a_verdict if {
	inp := patched(patched(healthy, ["window", "end"], "2024-01-04T00:00:00+00:00"), ["sample_size"], 10)
	d := data.fedgov.verdict_at(inp, now)
	d.allow == false
	d.deny == {"data freshness: the window ended 102.0 hours before this evaluation, more than 72 allowed (window end 2024-01-04T00:00:00+00:00)"}
	d.actions == {"block"}
}

test_window_within_staleness_is_allowed if {
	d := data.fedgov.verdict_at(patched(healthy, ["window", "end"], "2024-01-05T07:00:00.5+01:00"), now)
	d.allow == true
}

test_default_staleness_applies_outside_the_eu if {
	inp := patched(patched(healthy, ["window", "end"], "2024-01-04T00:00:00Z"), ["jurisdiction"], "CH")
	d := data.fedgov.verdict_at(inp, now)
	d.allow == true
}

test_unparseable_window_end_denies if {
	d := data.fedgov.verdict_at(patched(healthy, ["window", "end"], "last tuesday"), now)
	d.deny == {"input.window.end is missing or not an RFC 3339 time: data freshness cannot be checked"}
}

test_missing_window_denies if {
	d := data.fedgov.verdict_at(json.remove(healthy, ["window"]), now)
	d.deny == {"input.window.end is missing or not an RFC 3339 time: data freshness cannot be checked"}
}

test_real_clock_is_used_by_verdict if {
	d := data.fedgov.verdict(patched(healthy, ["window", "end"], "2000-01-01T00:00:00Z"))
	d.allow == false
	some msg in d.deny
	startswith(msg, "data freshness: the window ended ")
}

test_without_oversight_no_block if {
	t := {"default": object.union(data.fedgov.thresholds.default, {"human_oversight_required": false})}
	d := data.fedgov.verdict_at(drifted, now) with data.fedgov.thresholds as t
	d.allow == false
	d.actions == {"retrain"}
	count(d.warn) == 0
}

test_null_metrics_are_skipped if {
	inp := json.patch(healthy, [
		{"op": "replace", "path": "/drift/features/age", "value": {"psi": null, "psi_pvalue": null, "missing_rate": null}},
		{"op": "replace", "path": "/fairness/sex/demographic_parity_difference", "value": null},
		{"op": "replace", "path": "/fairness/sex/equalized_odds_difference", "value": null},
	])
	d := data.fedgov.verdict_at(inp, now)
	d.allow == true
	count(d.warn) == 0
}

test_missing_sample_size_denies if {
	d := data.fedgov.verdict_at(json.remove(healthy, ["sample_size"]), now)
	d.allow == false
	d.deny == {"input.sample_size is missing or not a number"}
	d.actions == {"block"}
}

test_missing_threshold_denies_and_blocks if {
	t := {"default": {"psi_max": 0.2}}
	d := data.fedgov.verdict_at(drifted, now) with data.fedgov.thresholds as t
	d.allow == false
	"policy data: threshold min_sample_size for jurisdiction EU-DE is missing or not a number (data.fedgov.thresholds)" in d.deny
	"policy data: threshold human_oversight_required for jurisdiction EU-DE is missing or not a boolean (data.fedgov.thresholds)" in d.deny
	count(d.deny) == 8
	d.actions == {"block"}
}
