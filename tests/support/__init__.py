"""Test doubles shared by the tests and the benchmarks (never shipped in the package).

``pythonpath = ["tests"]`` in pyproject's pytest options makes this folder
importable as ``support``; benchmarks add ``tests/`` to ``sys.path`` themselves.
"""
