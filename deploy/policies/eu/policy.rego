# EU profile, in the spirit of the EU AI Act's duties for high-risk systems:
# post-market monitoring of drift and bias, data governance, and human
# oversight. It is a starting point to be set by a compliance owner, not a
# legal reading of the Act.
#
#   deny + "retrain"  a feature drifted: PSI above psi_max and significant
#                     (p-value below psi_pvalue_max)
#   deny + "retrain"  an attribute's demographic parity difference is above
#                     dp_difference_max, or its equalized odds difference is
#                     above eo_difference_max (intersections "a*b" too when
#                     include_intersections is true)
#   warn              a feature's missing rate is above missing_rate_max
#   warn              fewer rows than min_sample_size: "no verdict" on drift,
#                     fairness or data quality; none of them denies
#   deny              stale evidence: input.window.end is more than
#                     max_staleness_hours before the time of evaluation
#                     (time.now_ns()), or is missing or not RFC 3339
#   deny              input.sample_size missing or not a number; a threshold
#                     missing or mistyped (then nothing else is judged)
#   oversight         with human_oversight_required (or when that threshold
#                     is unreadable), any deny also asks for "block" and
#                     warns "human review required": the version stops
#                     serving until a person has looked, whatever a retrain
#                     produces meanwhile
#
# Thresholds are per jurisdiction (thresholds.rego, data.json). A null metric
# is skipped. The clock is read once, in verdict(); verdict_at(inp, now_ns)
# takes it as an argument so that tests fix it. There is no input field to
# override the clock: a silo could otherwise vouch for its own freshness.
# Rules are functions of the input: rego-cpp 1.5.2 aborts on `with input as`
# over rules that use builtins, so the tests call verdict_at.
package fedgov

import rego.v1

decision := verdict(input)

required_numbers := [
	"psi_max", "psi_pvalue_max", "missing_rate_max", "dp_difference_max",
	"eo_difference_max", "min_sample_size", "max_staleness_hours",
]

required_booleans := ["include_intersections", "human_oversight_required"]

verdict(inp) := verdict_at(inp, time.now_ns())

verdict_at(inp, now_ns) := judge(inp, limits(inp), now_ns)

judge(inp, lim, now_ns) := {
	"allow": count(denied) == 0,
	"deny": denied,
	"warn": warnings | {review_note | count(block) > 0},
	"actions": {"retrain" | count(violations) > 0} | block,
} if {
	errors := threshold_errors(inp, lim) | input_errors(inp)
	ok := count(errors) == 0
	violations := {msg | ok; judged(inp, lim); some msg in metric_violations(inp, lim)}
	stale := {msg | ok; some msg in staleness(inp, lim, now_ns)}
	denied := (errors | violations) | stale
	warnings := {msg | ok; some msg in notes(inp, lim)}
	block := {"block" | count(denied) > 0; oversight_required(lim)}
}

review_note := "human review required: a person must review this decision before the model version serves again (human oversight)"

# An unreadable flag counts as true: oversight is the safe side.
oversight_required(lim) if not object.get(lim, "human_oversight_required", null) == false

input_errors(inp) := {"input.sample_size is missing or not a number" | not is_number(object.get(inp, "sample_size", null))}

# Enough rows to give a verdict on the metrics.
judged(inp, lim) if inp.sample_size >= lim.min_sample_size

metric_violations(inp, lim) := drift_violations(inp, lim) | fairness_violations(inp, lim)

# --- drift and data quality --------------------------------------------------

features(inp) := f if {
	f := inp.drift.features
	is_object(f)
} else := {}

drift_violations(inp, lim) := {msg |
	f := features(inp)[name]
	is_number(f.psi)
	is_number(f.psi_pvalue)
	f.psi > lim.psi_max
	f.psi_pvalue < lim.psi_pvalue_max
	msg := sprintf(
		"drift: feature %s has PSI %s > %v (p-value %s < %v)",
		[name, fixed4(f.psi), lim.psi_max, sig3(f.psi_pvalue), lim.psi_pvalue_max],
	)
}

quality_notes(inp, lim) := {msg |
	f := features(inp)[name]
	is_number(f.missing_rate)
	f.missing_rate > lim.missing_rate_max
	msg := sprintf(
		"data quality: feature %s has missing rate %s > %v",
		[name, fixed4(f.missing_rate), lim.missing_rate_max],
	)
}

# --- fairness -------------------------------------------------------------------

fairness(inp) := f if {
	f := inp.fairness
	is_object(f)
} else := {}

assessed(inp, lim) := {a: m |
	m := fairness(inp)[a]
	is_object(m)
	included(a, lim)
}

included(a, _) if not contains(a, "*")

included(a, lim) if {
	contains(a, "*")
	lim.include_intersections == true
}

fairness_violations(inp, lim) := {msg |
	m := assessed(inp, lim)[a]
	is_number(m.demographic_parity_difference)
	m.demographic_parity_difference > lim.dp_difference_max
	msg := sprintf(
		"fairness: attribute %s has demographic parity difference %s > %v",
		[a, fixed4(m.demographic_parity_difference), lim.dp_difference_max],
	)
} | {msg |
	m := assessed(inp, lim)[a]
	is_number(m.equalized_odds_difference)
	m.equalized_odds_difference > lim.eo_difference_max
	msg := sprintf(
		"fairness: attribute %s has equalized odds difference %s > %v",
		[a, fixed4(m.equalized_odds_difference), lim.eo_difference_max],
	)
}

# --- freshness ----------------------------------------------------------------------

# rego-cpp 1.5.2 cannot parse a "Z" offset; it is written as "+00:00". The
# shape is checked first: a time.parse_rfc3339_ns error is undefined on rego-cpp
# and on an OPA server, but an evaluation error where builtin errors are strict
# (OPA's in-process engine). A shape-valid impossible date (February 31) still
# errors there, which fails closed.
rfc3339_ns(s) := time.parse_rfc3339_ns(utc_offset(s)) if {
	is_string(s)
	regex.match(rfc3339_shape, s)
}

rfc3339_shape := `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`

utc_offset(s) := concat("", [trim_suffix(s, "Z"), "+00:00"]) if endswith(s, "Z")
else := concat("", [trim_suffix(s, "z"), "+00:00"]) if endswith(s, "z")
else := s

staleness(inp, lim, now_ns) := {msg |
	not rfc3339_ns(object.get(inp, ["window", "end"], null))
	msg := "input.window.end is missing or not an RFC 3339 time: data freshness cannot be checked"
} | {msg |
	end_ns := rfc3339_ns(inp.window.end)
	age_ns := now_ns - end_ns
	age_ns > (lim.max_staleness_hours * 3600) * 1000000000
	msg := concat("", [
		sprintf(
			"data freshness: the window ended %s hours before this evaluation, more than %v allowed (window end ",
			[fixed1(age_ns / 3600000000000), lim.max_staleness_hours],
		),
		inp.window.end,
		")",
	])
}

# --- warnings -----------------------------------------------------------------------

notes(inp, lim) := {msg | judged(inp, lim); some msg in quality_notes(inp, lim)} | sample_notes(inp, lim)

sample_notes(inp, lim) := {msg |
	not judged(inp, lim)
	msg := sprintf(
		"sample size %v < %v: no verdict on drift, fairness or data quality for this window",
		[inp.sample_size, lim.min_sample_size],
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

fixed1(x) := sprintf("%.1f", [x]) if x != floor(x)
else := sprintf("%d.0", [floor(x)])
