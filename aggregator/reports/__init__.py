"""Compliance reports rendered from the aggregator's query API (issue 15).

:mod:`.document` is the data every format is rendered from; the regimes build it
from a :class:`ReportSource` (the query client), the renderers turn it into
HTML or PDF, and ``fedgov report verify`` re-derives it from the store.
"""
