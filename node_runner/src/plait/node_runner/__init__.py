"""Plait's engine: node SDK, flow model, validation, compiler and executor.

The public SDK for node authors lives in :mod:`plait.node_runner.sdk`.
"""

__version__ = "0.1.0"
