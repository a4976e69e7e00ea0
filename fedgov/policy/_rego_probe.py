"""The child-process compile check: compiling a bundle where a crash is harmless.

Some valid Rego aborts the whole process inside rego-cpp 1.x's compiler (``with
input as`` over a rule that uses any builtin or operator), which no exception
handler can catch. :func:`compile_in_child` therefore compiles a bundle once in a child
Python process first; a child that dies is reported as a
:class:`~fedgov.errors.PolicyError` saying how to write the rule instead.
Compile errors that rego-cpp does report are left to the parent, which locates them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping

from fedgov.errors import PolicyError
from fedgov.policy._bundle import Bundle

__all__ = ["compile_in_child"]

_PROBE = """
import json, sys, regopy
job = json.load(sys.stdin)
rego = regopy.Interpreter()
rego.log_level = regopy.LogLevel.NONE
try:
    if job["data"]:
        rego.add_data_json(job["data"])
    for name, text in job["modules"]:
        rego.add_module(name, text)
    rego.build(job["query"])
except regopy.RegoError:
    pass  # reported by the parent, with its location
"""


def compile_in_child(bundle: Bundle, sources: Mapping[str, str], query: str) -> None:
    """Compile in a child process: rego-cpp aborts its process on some valid Rego."""
    job = {
        "data": json.dumps(bundle.data) if bundle.data else "",
        "modules": list(sources.items()),
        "query": query,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PolicyError(
            f"could not compile the bundle in a child process: {exc}", file=str(bundle.path)
        ) from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1].strip()
        raise PolicyError(
            f"rego-cpp failed compiling the bundle (exit status {proc.returncode}: {detail})."
            " rego-cpp 1.5.2 aborts on `with input as ...` when the rule evaluated uses any"
            " builtin or operator; write the rules as functions of the input and call them"
            " (`verdict(inp)`), or mock data with `with data.x as ...`, which works",
            file=str(bundle.path),
        )
