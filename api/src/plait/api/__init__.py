"""Plait's control plane and composition root.

Today this part holds the offline ``plait`` command line (:mod:`plait.api.cli`): it wires
the engine (``plait.node_runner``) to the node library found through the node registry
and to local stores under ``PLAIT_DATA_DIR``. The platform — settings, database, REST and
WebSocket API, queue, workers and scheduler — joins it here (ARCHITECTURE.md §1, §2).
"""

__version__ = "0.1.0"
