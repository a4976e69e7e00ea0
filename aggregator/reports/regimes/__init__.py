"""The report regimes: one module per rule, each a ``build(source, args) -> document``.

``nyc_ll144`` (NYC Local Law 144 bias audit summary, its tables in ``_ll144_tables``),
``eu_ai_act`` (post-market monitoring), ``colorado`` (SB 24-205 impact assessment;
the two share ``_shared_eu``, ``_groups``, ``_corrective`` and ``_thresholds``) and
``summary`` (one page across every model). All read
:class:`~aggregator.reports.source.ReportSource` and
:class:`~aggregator.reports.source.ReportArgs`;
:mod:`aggregator.reports.build` maps a regime's name to its module.
"""
