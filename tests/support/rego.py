"""Rego policies more than one test suite evaluates."""

from __future__ import annotations

#: Rego v0 syntax with its own function: allows when ``2 * input.n > 2``, else denies
#: with "n too small".
V0_POLICY = (
    "package fedgov\n\n"
    "default allow = false\n"
    "allow { double(input.n) > 2 }\n"
    "double(x) = y { y := x * 2 }\n"
    'decision = {"allow": allow, "deny": d, "warn": [], "actions": []} {\n'
    '  d := [m | not allow; m := "n too small"]\n}\n'
)
