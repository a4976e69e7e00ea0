# US four-fifths rule: adverse impact on a protected attribute.
#
# The selection rate of every group must be at least four_fifths_min (0.8)
# of the selection rate of the most selected group (EEOC Uniform Guidelines,
# 29 CFR 1607.4(D)). That smallest ratio is the disparate impact, fairlearn's
# demographic parity ratio; it is recomputed here from the groups'
# selection_rate so that groups with fewer than min_group_size rows can be
# left out (the Guidelines warn against reading small groups).
#
#   deny + "retrain"  an attribute's disparate impact is below four_fifths_min;
#                     the reason names the attribute, the ratio, and the
#                     least and most selected groups
#   warn              groups left out for having too few rows; an attribute
#                     that cannot be assessed (fewer than two eligible groups,
#                     nobody selected)
#   deny              a threshold is missing or mistyped; input.fairness is
#                     missing or not an object
#
# Attributes are the sensitive attributes in input.fairness; intersections
# ("sex*age_band") too when include_intersections is true. The groups
# "__other__" and "__missing__" (and intersections holding them) never take
# part, as in fairlearn. When an attribute has no "groups", its
# demographic_parity_ratio is read as given. Thresholds are per jurisdiction
# (thresholds.rego, data.json). A null metric is skipped.
#
# Rules are functions of the input (`verdict(inp)`): rego-cpp 1.5.2 aborts on
# `with input as` over rules that use builtins, so the tests call verdict.
package fedgov

import rego.v1

decision := verdict(input)

required_numbers := ["four_fifths_min", "min_group_size"]

required_booleans := ["include_intersections"]

verdict(inp) := judge(inp, limits(inp))

judge(inp, lim) := {
	"allow": count(denied) == 0,
	"deny": denied,
	"warn": warnings,
	"actions": {"retrain" | count(violations) > 0},
} if {
	errors := threshold_errors(inp, lim) | input_errors(inp)
	violations := {msg | count(errors) == 0; some msg in adverse_impact(inp, lim)}
	denied := errors | violations
	warnings := {msg | count(errors) == 0; some msg in notes(inp, lim)}
}

input_errors(inp) := {"input.fairness is missing or not an object: the four-fifths rule cannot be assessed" |
	not is_object(object.get(inp, "fairness", null))
}

# --- which attributes and groups take part ---------------------------------

fairness(inp) := f if {
	f := inp.fairness
	is_object(f)
} else := {}

assessed(inp, lim) := {a |
	some a
	m := fairness(inp)[a]
	is_object(m)
	included(a, lim)
}

included(a, _) if not contains(a, "*")

included(a, lim) if {
	contains(a, "*")
	lim.include_intersections == true
}

# "__other__"/"__missing__" slots, alone or inside an intersection "F|__missing__".
declared(group) if {
	not reserved(group)
}

reserved(group) if {
	some part in split(group, "|")
	part in {"__other__", "__missing__"}
}

groups_of(m) := g if {
	g := m.groups
	is_object(g)
}

# Selection rate of every declared group with at least min_group_size rows.
eligible_rates(m, lim) := {g: rate |
	some g
	grp := groups_of(m)[g]
	declared(g)
	is_number(grp.count)
	grp.count >= lim.min_group_size
	rate := grp.selection_rate
	is_number(rate)
}

# Declared groups with some rows but fewer than min_group_size.
small_groups(m, lim) := {g: grp.count |
	some g
	grp := groups_of(m)[g]
	declared(g)
	is_number(grp.count)
	grp.count > 0
	grp.count < lim.min_group_size
}

# --- the rule ---------------------------------------------------------------

adverse_impact(inp, lim) := from_groups(inp, lim) | from_ratio(inp, lim)

from_groups(inp, lim) := {msg |
	some a in assessed(inp, lim)
	rates := eligible_rates(fairness(inp)[a], lim)
	count(rates) >= 2
	values := [r | some r in rates]
	high := max(values)
	high > 0
	low := min(values)
	ratio := low / high
	ratio < lim.four_fifths_min
	low_group := min({g | some g; rates[g] == low})
	high_group := min({g | some g; rates[g] == high})
	msg := sprintf(
		"four-fifths rule: attribute %s has disparate impact %s < %v (group %s selection rate %s vs %s for group %s)",
		[a, fixed4(ratio), lim.four_fifths_min, low_group, fixed4(low), fixed4(high), high_group],
	)
}

# An attribute reported without groups: its demographic parity ratio as given.
from_ratio(inp, lim) := {msg |
	some a in assessed(inp, lim)
	m := fairness(inp)[a]
	not groups_of(m)
	ratio := m.demographic_parity_ratio
	is_number(ratio)
	ratio < lim.four_fifths_min
	msg := sprintf(
		"four-fifths rule: attribute %s has disparate impact %s < %v (as reported; no group counts)",
		[a, fixed4(ratio), lim.four_fifths_min],
	)
}

# --- warnings -----------------------------------------------------------------

notes(inp, lim) := (excluded_notes(inp, lim) | unassessed_notes(inp, lim)) | empty_notes(inp, lim)

excluded_notes(inp, lim) := {msg |
	some a in assessed(inp, lim)
	small := small_groups(fairness(inp)[a], lim)
	count(small) > 0
	listed := concat(", ", sort([s | some g; n := small[g]; s := sprintf("%s (%d rows)", [g, n])]))

	# concat, not sprintf: rego-cpp's sprintf quotes (without escaping) a
	# string that concat returned, which breaks the decision's JSON.
	msg := concat("", [
		sprintf("four-fifths rule: attribute %s leaves out groups with fewer than %v rows: ", [a, lim.min_group_size]),
		listed,
	])
}

unassessed_notes(inp, lim) := {msg |
	some a in assessed(inp, lim)
	m := fairness(inp)[a]
	groups_of(m)
	rates := eligible_rates(m, lim)
	reason := unassessed_reason(rates, lim)
	msg := sprintf("four-fifths rule: attribute %s not assessed: %s", [a, reason])
}

unassessed_reason(rates, lim) := sprintf("fewer than 2 groups with at least %v rows", [lim.min_group_size]) if {
	count(rates) < 2
}

unassessed_reason(rates, _) := "no group was selected (every selection rate is 0)" if {
	count(rates) >= 2
	max([r | some r in rates]) <= 0
}

empty_notes(inp, lim) := {"four-fifths rule: no protected attribute in input.fairness, nothing assessed" |
	is_object(object.get(inp, "fairness", null))
	count(assessed(inp, lim)) == 0
}

# --- numbers in messages -----------------------------------------------------------

# sprintf("%.4f") and sprintf("%.3g") that print alike on OPA and rego-cpp. OPA's
# numbers keep no float type: a whole number (1.0 or 0.0 from the input too)
# reaches sprintf as an integer, and "%.4f" prints it as "%!f(int64=1)".
fixed4(x) := sprintf("%.4f", [x]) if x != floor(x)
else := sprintf("%d.0000", [floor(x)])

