# Thresholds per jurisdiction. This file is the same in every pack under
# deploy/policies/ (a test keeps the copies identical); edit them together.
#
# data.json holds data.fedgov.thresholds, a table keyed by jurisdiction:
#
#   {"default": {every threshold},        applies everywhere
#    "EU-*":    {some thresholds},        a glob pattern over jurisdictions
#    "EU-DE":   {some thresholds}}        one jurisdiction
#
# limits(inp) resolves the table for inp.jurisdiction, threshold by
# threshold: "default" first, then every key that matches the jurisdiction as
# a glob (`*`, `?`, `[..]`; shorter keys first), then the key equal to it;
# a later layer overrides an earlier one. The jurisdiction is a silo's own
# ("EU-DE") when an agent evaluates, or a group name ("EU-*", "*") when the
# aggregator evaluates merged metrics: a group is matched by the keys that
# cover it ("EU-*" or "*"), never by one silo's key. A missing or non-string
# jurisdiction gets "default" only.
package fedgov

import rego.v1

default threshold_table := {}

threshold_table := data.fedgov.thresholds

jurisdiction_of(inp) := j if {
	j := inp.jurisdiction
	is_string(j)
} else := ""

# Keys of the table that apply to jurisdiction j, least specific first.
threshold_layers(j) := array.concat(["default"], [k | some pair in sort(ranked); k := pair[2]]) if {
	ranked := [[exact, count(k), k] |
		some k
		layer := threshold_table[k] # bind first: is_object(table[k]) does not enumerate k
		is_object(layer)
		k != "default"
		glob.match(k, [], j)
		exact := count([1 | k == j])
	]
}

limits(inp) := {name: value |
	layers := [layer |
		some k in threshold_layers(jurisdiction_of(inp))
		layer := threshold_table[k]
		is_object(layer)
	]
	names := {n | some i, n; _ = layers[i][n]}

	# rego-cpp: a variable bound by `some` is not seen as bound inside a
	# nested comprehension; one bound by `some x in` or `:=` is.
	some name in names
	defined := [v | some layer in layers; v := layer[name]]
	value := defined[count(defined) - 1]
}

# A threshold that is missing or has the wrong type must not silently disable
# a check: required_numbers and required_booleans (defined by each pack) are
# checked and each problem is a deny.
threshold_errors(inp, lim) := {msg |
	some name in required_numbers
	not is_number(object.get(lim, name, null))
	msg := threshold_error(name, inp, "a number")
} | {msg |
	some name in required_booleans
	not is_boolean(object.get(lim, name, null))
	msg := threshold_error(name, inp, "a boolean")
}

# Strings are joined with concat: rego-cpp 1.5.2's sprintf("%s") prints some
# strings (those passed as literal function arguments, or returned by concat)
# with their quotes, unescaped, which breaks the decision's JSON.
threshold_error(name, inp, kind) := concat("", [
	"policy data: threshold ", name, " for jurisdiction ", jurisdiction_label(inp),
	" is missing or not ", kind, " (data.fedgov.thresholds)",
])

jurisdiction_label(inp) := j if {
	j := jurisdiction_of(inp)
	j != ""
} else := "(none)"
