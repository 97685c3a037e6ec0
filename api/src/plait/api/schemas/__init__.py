"""Request and response models of the REST API (``*Create``, ``*Update``, ``*Public``).

Routes and other clients of these shapes (the CLI's HTTP verbs, tests) import them from
the domain modules: ``from plait.api.schemas.flows import FlowPublic``.
"""
