# fedgov default governance policy.
#
# Reads the metrics of one report (the input contract is in the docstring of
# fedgov.policy) and the thresholds in data.json, and produces
# data.fedgov.decision:
#
#   deny + "retrain"  a feature drifted: PSI above psi_max, significantly
#                     (p-value below psi_pvalue_max)
#   deny + "retrain"  an attribute fails the four-fifths rule: demographic
#                     parity ratio below dp_ratio_min
#   warn              equalized odds difference above eo_difference_max
#   warn              fewer rows than min_sample_size: no verdict on drift or
#                     fairness, the figures are too noisy to act on
#   deny              a threshold is missing, or input.sample_size is not a number
#
# A null metric (not computable) is skipped. allow is true iff nothing denies.
#
# The rules are functions of the input (`verdict(inp)`), and `decision`
# applies them to `input`: rego-cpp 1.5.2 aborts when a test evaluates a rule
# that uses builtins under `with input as ...`, so policy_test.rego calls
# verdict(inp) directly.
package fedgov

import rego.v1

decision := verdict(input)

verdict(inp) := {
	"allow": count(denied) == 0,
	"deny": denied,
	"warn": warnings(inp),
	"actions": {"retrain" | count(retrain_reasons(inp)) > 0},
} if {
	denied := ((config_errors | input_errors(inp)) | drift_violations(inp)) | fairness_violations(inp)
}

# Thresholds come from data.json; "limits" avoids a clash with that data path.
default limits := {}

limits := data.fedgov.thresholds

required_thresholds := ["psi_max", "psi_pvalue_max", "dp_ratio_min", "eo_difference_max", "min_sample_size"]

# A missing threshold must not silently disable a check.
config_errors contains msg if {
	some name in required_thresholds
	not is_number(object.get(limits, name, null))
	msg := sprintf("policy data: data.fedgov.thresholds.%s is missing or not a number", [name])
}

input_errors(inp) := {"input.sample_size is missing or not a number" | not is_number(object.get(inp, "sample_size", null))}

# Enough rows to give a verdict on drift and fairness.
judged(inp) if {
	is_number(inp.sample_size)
	inp.sample_size >= limits.min_sample_size
}

drift_violations(inp) := {msg |
	judged(inp)
	# A candidate model is judged on the data it was trained on: drift against the
	# old reference says nothing about the model, so only monitoring checks it.
	object.get(inp, "stage", "monitoring") != "candidate"
	features := object.get(inp, ["drift", "features"], {})
	some name # `some k, v in` is misparsed inside a set comprehension by rego-cpp
	f := features[name]
	is_number(f.psi)
	is_number(f.psi_pvalue)
	f.psi > limits.psi_max
	f.psi_pvalue < limits.psi_pvalue_max
	msg := sprintf(
		"drift: feature %s has PSI %s > %v (p-value %s < %v)",
		[name, fixed4(f.psi), limits.psi_max, sig3(f.psi_pvalue), limits.psi_pvalue_max],
	)
}

fairness_violations(inp) := {msg |
	judged(inp)
	attributes := object.get(inp, "fairness", {})
	some attribute
	m := attributes[attribute]
	is_number(m.demographic_parity_ratio)
	m.demographic_parity_ratio < limits.dp_ratio_min
	msg := sprintf(
		"fairness: attribute %s has demographic parity ratio %s < %v (four-fifths rule)",
		[attribute, fixed4(m.demographic_parity_ratio), limits.dp_ratio_min],
	)
}

retrain_reasons(inp) := drift_violations(inp) | fairness_violations(inp)

warnings(inp) := odds_warnings(inp) | sample_warnings(inp)

odds_warnings(inp) := {msg |
	judged(inp)
	attributes := object.get(inp, "fairness", {})
	some attribute
	m := attributes[attribute]
	is_number(m.equalized_odds_difference)
	m.equalized_odds_difference > limits.eo_difference_max
	msg := sprintf(
		"fairness: attribute %s has equalized odds difference %s > %v",
		[attribute, fixed4(m.equalized_odds_difference), limits.eo_difference_max],
	)
}

sample_warnings(inp) := {msg |
	is_number(inp.sample_size)
	not judged(inp)
	msg := sprintf(
		"sample size %v < %v: no verdict on drift or fairness for this window",
		[inp.sample_size, limits.min_sample_size],
	)
}

# --- numbers in messages -----------------------------------------------------------

# sprintf("%.4f") and sprintf("%.3g") that print alike on OPA and rego-cpp. OPA's
# numbers keep no float type: a whole number (1.0 or 0.0 from the input too)
# reaches sprintf as an integer, and "%.4f" prints it as "%!f(int64=1)".
fixed4(x) := sprintf("%.4f", [x]) if x != floor(x)
else := sprintf("%d.0000", [floor(x)])

sig3(x) := sprintf("%.3g", [x]) if x != floor(x)
else := sprintf("%d", [floor(x)])
