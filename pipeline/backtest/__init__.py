"""Backtests: hedge templates replayed over real GLD history (docs/backtests.md).

Kernels (`*_nb.py`) take and return plain arrays; the modules beside them turn frames into those
arrays and back. Layering: this package reads pricing, portfolio and strategies, never the reverse.
"""
