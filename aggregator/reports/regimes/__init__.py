"""The regimes a report can be built for: one module per rule, ``build(source, args)``."""
