# Tests for thresholds.rego (how a jurisdiction picks its thresholds). Like
# thresholds.rego, this file is the same in every pack under deploy/policies/.
#
# Each test binds `t := table` before `with data.fedgov.thresholds as t`:
# rego-cpp 1.5.2 silently ignores `with ... as table` when table is a rule.
package fedgov_thresholds_test

import rego.v1

table := {
	"default": {"a": 1, "b": 2, "c": false},
	"EU-*": {"a": 10},
	"EU-D?": {"b": 20},
	"EU-DE": {"a": 100, "c": true},
	"US-NY": {"b": 30},
}

test_default_applies_to_an_unlisted_jurisdiction if {
	t := table
	lim := data.fedgov.limits({"jurisdiction": "JP-13"}) with data.fedgov.thresholds as t
	lim == {"a": 1, "b": 2, "c": false}
}

test_missing_jurisdiction_gets_default if {
	t := table
	lim := data.fedgov.limits({}) with data.fedgov.thresholds as t
	lim == {"a": 1, "b": 2, "c": false}
}

test_non_string_jurisdiction_gets_default if {
	t := table
	lim := data.fedgov.limits({"jurisdiction": 42}) with data.fedgov.thresholds as t
	lim == {"a": 1, "b": 2, "c": false}
}

test_glob_key_overrides_default if {
	t := table
	lim := data.fedgov.limits({"jurisdiction": "EU-FR"}) with data.fedgov.thresholds as t
	lim == {"a": 10, "b": 2, "c": false}
}

test_exact_key_overrides_globs_and_default_threshold_by_threshold if {
	t := table
	lim := data.fedgov.limits({"jurisdiction": "EU-DE"}) with data.fedgov.thresholds as t
	lim == {"a": 100, "b": 20, "c": true}
}

test_group_name_from_the_aggregator_matches_the_covering_key if {
	t := table
	lim := data.fedgov.limits({"jurisdiction": "EU-*"}) with data.fedgov.thresholds as t
	lim == {"a": 10, "b": 2, "c": false}
}

test_group_name_is_not_matched_by_one_silo_key if {
	t := table
	lim := data.fedgov.limits({"jurisdiction": "US-*"}) with data.fedgov.thresholds as t
	lim == {"a": 1, "b": 2, "c": false}
}

test_layers_are_ordered_least_specific_first if {
	t := table
	layers := data.fedgov.threshold_layers("EU-DE") with data.fedgov.thresholds as t
	layers == ["default", "EU-*", "EU-D?", "EU-DE"]
}

test_no_table_gives_no_thresholds if {
	lim := data.fedgov.limits({"jurisdiction": "EU-DE"}) with data.fedgov.thresholds as {}
	lim == {}
}
