"""Rego policies more than one test suite evaluates."""

from __future__ import annotations

#: The head of a Rego v1 module of package ``fedgov``; a test appends its rules.
V1 = "package fedgov\n\nimport rego.v1\n\n"

#: A decision that allows, with no reasons, as a Rego object.
EMPTY = '{"allow": true, "deny": [], "warn": [], "actions": []}'

#: Rego v0 syntax (its first rule body without ``if`` is on line 4), which every
#: engine refuses: OPA 1.x reads Rego v1 only. In v0 it would allow when
#: ``2 * input.n > 2``.
V0_POLICY = (
    "package fedgov\n\n"
    "default allow = false\n"
    "allow { double(input.n) > 2 }\n"
    "double(x) = y { y := x * 2 }\n"
    'decision = {"allow": allow, "deny": d, "warn": [], "actions": []} {\n'
    '  d := [m | not allow; m := "n too small"]\n}\n'
)
