"""The `fedgov` command line: its verbs, and what every verb family shares.

How the command is put together (which module adds which verb, and why
through an entry-point group) is told in :mod:`fedgov.cli.main`. A verb
family is a function ``register(verbs: Verbs) -> None`` that adds its
parsers to ``verbs`` and sets ``run`` (``args -> exit code``) on each leaf;
:mod:`fedgov.cli.arguments` has the argument types and shared options,
:mod:`fedgov.cli.output` the table and JSON printers.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

__all__ = ["VERB_GROUP", "Verbs"]

#: The entry-point group through which the agent and the aggregator add their verbs.
VERB_GROUP = "fedgov.verbs"

#: What a verb family's ``register`` receives: the `fedgov` parser's subcommands.
Verbs: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
