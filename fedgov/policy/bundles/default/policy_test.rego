# Tests for the default policy; run with `fedgov policy test fedgov/policy/bundles/default`.
#
# The tests call verdict(inp), the function that decision applies to input,
# rather than `decision with input as inp`: rego-cpp 1.5.2 aborts compiling
# `with input as` when the rule it evaluates uses any builtin or operator.
# `with data... as` works, and tests thresholds.
package fedgov_test

import rego.v1

healthy := {
	"model": {"id": "credit-risk", "version": "3"},
	"silo": "hospital-a",
	"jurisdiction": "EU",
	"window": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-08T00:00:00Z"},
	"sample_size": 1000,
	"drift": {"features": {
		"age": {"psi": 0.05, "psi_pvalue": 0.4, "missing_rate": 0.0},
		"income": {"psi": 0.1, "psi_pvalue": 0.2, "missing_rate": 0.01},
	}},
	"fairness": {"sex": {
		"demographic_parity_difference": 0.05,
		"demographic_parity_ratio": 0.9,
		"equalized_odds_difference": 0.1,
		"groups": {
			"f": {"count": 480, "selection_rate": 0.45, "tpr": 0.8, "fpr": 0.1},
			"m": {"count": 520, "selection_rate": 0.5, "tpr": 0.82, "fpr": 0.12},
		},
	}},
}

drifted := json.patch(healthy, [{"op": "replace", "path": "/drift/features/age", "value": {"psi": 0.35, "psi_pvalue": 0.001, "missing_rate": 0.0}}])

test_healthy_model_is_allowed if {
	d := data.fedgov.verdict(healthy)
	d.allow == true
	count(d.deny) == 0
	count(d.warn) == 0
	count(d.actions) == 0
}

test_significant_drift_denies_and_retrains if {
	d := data.fedgov.verdict(drifted)
	d.allow == false
	d.deny == {"drift: feature age has PSI 0.3500 > 0.2 (p-value 0.001 < 0.01)"}
	d.actions == {"retrain"}
}

test_drift_without_significance_is_allowed if {
	inp := json.patch(healthy, [{"op": "replace", "path": "/drift/features/age/psi", "value": 0.35}])
	d := data.fedgov.verdict(inp)
	d.allow == true
}

test_four_fifths_rule_denies_and_retrains if {
	inp := json.patch(healthy, [{"op": "replace", "path": "/fairness/sex/demographic_parity_ratio", "value": 0.7}])
	d := data.fedgov.verdict(inp)
	d.allow == false
	d.deny == {"fairness: attribute sex has demographic parity ratio 0.7000 < 0.8 (four-fifths rule)"}
	d.actions == {"retrain"}
}

test_ratio_at_four_fifths_is_allowed if {
	inp := json.patch(healthy, [{"op": "replace", "path": "/fairness/sex/demographic_parity_ratio", "value": 0.8}])
	d := data.fedgov.verdict(inp)
	d.allow == true
}

test_equalized_odds_only_warns if {
	inp := json.patch(healthy, [{"op": "replace", "path": "/fairness/sex/equalized_odds_difference", "value": 0.3}])
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {"fairness: attribute sex has equalized odds difference 0.3000 > 0.2"}
	count(d.actions) == 0
}

test_small_sample_warns_without_verdict if {
	inp := json.patch(drifted, [{"op": "replace", "path": "/sample_size", "value": 10}])
	d := data.fedgov.verdict(inp)
	d.allow == true
	d.warn == {"sample size 10 < 50: no verdict on drift or fairness for this window"}
	count(d.actions) == 0
}

test_null_metrics_are_skipped if {
	inp := json.patch(healthy, [
		{"op": "replace", "path": "/drift/features/age", "value": {"psi": null, "psi_pvalue": null, "missing_rate": null}},
		{"op": "replace", "path": "/fairness/sex/demographic_parity_ratio", "value": null},
		{"op": "replace", "path": "/fairness/sex/equalized_odds_difference", "value": null},
	])
	d := data.fedgov.verdict(inp)
	d.allow == true
	count(d.warn) == 0
}

test_missing_sample_size_denies if {
	inp := json.remove(healthy, ["sample_size"])
	d := data.fedgov.verdict(inp)
	d.allow == false
	d.deny == {"input.sample_size is missing or not a number"}
}

test_thresholds_come_from_data if {
	d := data.fedgov.verdict(drifted)
		with data.fedgov.thresholds.psi_max as 0.5
	d.allow == true
}

test_missing_threshold_denies if {
	d := data.fedgov.verdict(healthy)
		with data.fedgov.thresholds as {"psi_max": 0.2}
	d.allow == false
	"policy data: data.fedgov.thresholds.dp_ratio_min is missing or not a number" in d.deny
}

test_candidate_stage_skips_drift if {
	inp := {"sample_size": 1000, "stage": "candidate", "drift": {"features": {"income": {"psi": 0.9, "psi_pvalue": 0.0}}}, "fairness": {}}
	d := data.fedgov.verdict(inp)
	d.allow
	count(d.deny) == 0
}
