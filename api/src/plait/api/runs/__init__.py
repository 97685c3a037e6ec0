"""Runs on the platform: the database event store, the run dispatcher, live events, and
the durable node services (secrets, key-value store, child runs) a run's nodes reach.

The engine (``plait.node_runner``) knows nothing of the database; everything here plugs
into its protocols (``EventStore``, ``Secrets``, ``KeyValueStore``, ``ChildRuns``).
"""
