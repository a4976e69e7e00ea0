"""Rego policies more than one test suite evaluates."""

from __future__ import annotations

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
