"""The report regimes: one module per rule, each a ``build(source, args) -> document``.

``nyc_ll144`` (NYC Local Law 144 bias audit summary) and ``summary`` (one page
across every model) are here; ``eu_ai_act`` and ``colorado`` beside them.
:mod:`aggregator.reports.build` maps a regime's name to its module.
"""
