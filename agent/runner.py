"""Kept so that ``from agent.runner import Agent`` (fedgov/cli) still works.

The agent's main loop is :mod:`agent.service`; import from there. This module
goes away once nothing imports it.
"""

from agent.service import Agent, ModelWatch

__all__ = ["Agent", "ModelWatch"]
