"""fedgov: model governance across data silos.

The shared core: monitoring specs, mergeable statistics, metrics derived
from them, policy engines, the wire format and errors. The agent (``agent``)
and the aggregator (``aggregator``) both build on it and never on each other.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
