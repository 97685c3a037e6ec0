"""Plait's data plane: the subdomain router for published flows (ARCHITECTURE.md §6).

A placeholder until the router issue lands. The router will turn a request on
``{project}-{stage}.<base domain>`` (or ``/p/{project}/{stage}/…``) into a run of the
flow published there and the run's ``http.respond`` into the answer. What it needs from
the platform — route tables, starting and awaiting a run — comes through small
protocols that ``plait.api`` implements and injects. It imports only
``plait.node_runner``.
"""
