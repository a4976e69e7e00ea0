# NYC Local Law 144 style bias audit: impact ratios per category.
#
# For every sensitive attribute and every intersection of attributes
# ("sex*age_band", group "F|<30"), each category's impact ratio is its
# selection rate divided by the selection rate of the most selected category
# (DCWP rules, 6 RCNY 5-300). The law asks for the ratios to be published,
# not for a pass mark; this pack reports them all and denies below a
# configured impact_ratio_min.
#
#   warn              every impact ratio, one line per category
#   deny + "retrain"  a category's impact ratio is below impact_ratio_min
#   warn              categories left out of the ratios: with
#                     exclude_small_categories, a category holding less than
#                     small_category_share of the attribute's rows may be left
#                     out (the rules allow it below 2%); the warning gives its
#                     rows and selection rate, which the audit must publish
#   warn              rows in an unknown category ("__other__", "__missing__"),
#                     which are never in the ratios
#   warn              an attribute that cannot be assessed (fewer than two
#                     categories, nobody selected)
#   deny              a threshold is missing or mistyped; input.fairness is
#                     missing or not an object
#
# Thresholds are per jurisdiction (thresholds.rego, data.json). A null
# selection rate is skipped. Rules are functions of the input
# (`verdict(inp)`): rego-cpp 1.5.2 aborts on `with input as` over rules that
# use builtins, so the tests call verdict.
package fedgov

import rego.v1

decision := verdict(input)

required_numbers := ["impact_ratio_min", "small_category_share"]

required_booleans := ["exclude_small_categories"]

verdict(inp) := judge(inp, limits(inp))

judge(inp, lim) := {
	"allow": count(denied) == 0,
	"deny": denied,
	"warn": warnings,
	"actions": {"retrain" | count(violations) > 0},
} if {
	errors := threshold_errors(inp, lim) | input_errors(inp)
	violations := {msg | count(errors) == 0; some msg in low_ratios(inp, lim)}
	denied := errors | violations
	warnings := {msg | count(errors) == 0; some msg in notes(inp, lim)}
}

input_errors(inp) := {"input.fairness is missing or not an object: impact ratios cannot be computed" |
	not is_object(object.get(inp, "fairness", null))
}

# --- categories -------------------------------------------------------------

fairness(inp) := f if {
	f := inp.fairness
	is_object(f)
} else := {}

# Attribute name -> its groups, for attributes that report groups.
attributes(inp) := {a: groups |
	some a
	m := fairness(inp)[a]
	is_object(m)
	groups := m.groups
	is_object(groups)
}

reserved(group) if {
	some part in split(group, "|")
	part in {"__other__", "__missing__"}
}

# Rows the attribute was counted on, unknown categories included.
total_rows(groups) := sum([n | some g; n := groups[g].count; is_number(n)])

# Declared categories with rows and a selection rate: name -> {count, rate}.
categories(groups) := {g: {"count": n, "rate": rate} |
	some g
	grp := groups[g]
	not reserved(g)
	n := grp.count
	is_number(n)
	n > 0
	rate := grp.selection_rate
	is_number(rate)
}

# Categories left out as too small (only with exclude_small_categories).
small(groups, lim) := {g: c |
	lim.exclude_small_categories == true
	total := total_rows(groups)
	cats := categories(groups)
	some g
	c := cats[g]
	c.count < lim.small_category_share * total
}

# The categories whose impact ratios are computed:
# name -> {count, rate, ratio, best (the most selected category), high (its rate)}.
ratios(groups, lim) := {g: object.union(c, {"ratio": c.rate / high, "best": best, "high": high}) |
	left_out := small(groups, lim)
	cats := {k: v | some k; v := categories(groups)[k]; not left_out[k]}
	count(cats) >= 2
	high := max([v.rate | some v in cats])
	high > 0
	best := min({k | some k; cats[k].rate == high})
	some g
	c := cats[g]
}

# --- verdicts -----------------------------------------------------------------

low_ratios(inp, lim) := {msg |
	groups := attributes(inp)[a]
	r := ratios(groups, lim)[g]
	r.ratio < lim.impact_ratio_min
	msg := sprintf(
		"LL144: %s category %s has impact ratio %s < %v (selection rate %s vs %s for %s)",
		[a, g, fixed4(r.ratio), lim.impact_ratio_min, fixed4(r.rate), fixed4(r.high), r.best],
	)
}

notes(inp, lim) := (((ratio_notes(inp, lim) | excluded_notes(inp, lim)) | unknown_notes(inp)) | unassessed_notes(inp, lim)) | empty_notes(inp)

ratio_notes(inp, lim) := {msg |
	groups := attributes(inp)[a]
	r := ratios(groups, lim)[g]
	msg := sprintf(
		"LL144 impact ratio: %s category %s = %s (selection rate %s, %d rows)",
		[a, g, fixed4(r.ratio), fixed4(r.rate), r.count],
	)
}

excluded_notes(inp, lim) := {msg |
	groups := attributes(inp)[a]
	left_out := small(groups, lim)
	count(left_out) > 0
	listed := concat("; ", sort([s |
		some g
		c := left_out[g]
		s := sprintf("%s (%d rows, selection rate %s)", [g, c.count, fixed4(c.rate)])
	]))

	# concat, not sprintf: rego-cpp's sprintf quotes (without escaping) a
	# string that concat returned, which breaks the decision's JSON.
	msg := concat("", [
		sprintf("LL144: %s leaves out of the impact ratios categories under %v of its %d rows: ", [a, lim.small_category_share, total_rows(groups)]),
		listed,
	])
}

unknown_notes(inp) := {msg |
	groups := attributes(inp)[a]
	unknown := sum([n | some g; n := groups[g].count; is_number(n); reserved(g)])
	unknown > 0
	msg := sprintf("LL144: %s has %d rows in an unknown category, not in the impact ratios", [a, unknown])
}

unassessed_notes(inp, lim) := {msg |
	groups := attributes(inp)[a]
	count(ratios(groups, lim)) == 0
	msg := sprintf("LL144: %s not assessed: fewer than 2 categories with a selection rate above 0", [a])
}

empty_notes(inp) := {"LL144: no sensitive attribute with groups in input.fairness, nothing assessed" |
	is_object(object.get(inp, "fairness", null))
	count(attributes(inp)) == 0
}

# --- numbers in messages -----------------------------------------------------------

# sprintf("%.4f") and sprintf("%.3g") that print alike on OPA and rego-cpp. OPA's
# numbers keep no float type: a whole number (1.0 or 0.0 from the input too)
# reaches sprintf as an integer, and "%.4f" prints it as "%!f(int64=1)".
fixed4(x) := sprintf("%.4f", [x]) if x != floor(x)
else := sprintf("%d.0000", [floor(x)])

