"""The data graph of a flow: ordering, ancestry and cycles.

Only ``data`` edges order a run, so only they are graph edges here; service edges
(``tool``, ``memory``, ``model``) are kept aside in ``service_incoming`` for the agent
nodes that use them. Edges whose source or target is not a node are left out (the
validator reports them). When two nodes share an id, the first one is the node.

Ancestry is answered from one bitmask per node (bit ``i`` = the node at document
position ``i``), built in a single topological pass the first time it is asked for.
A 5,000-node chain has 12.5 million (ancestor, node) pairs; as bits that is about
1.5 MB, where frozensets would take gigabytes.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .errors import FlowError
from .flow import Flow, FlowEdge

__all__ = ["FlowGraph"]


class FlowGraph:
    """A read-only view of a flow's data edges.

    Attributes:
        nodes: Node ids in document order (the first of any duplicates).
        incoming: For every node id, its incoming data edges in document order.
        outgoing: For every node id, its outgoing data edges in document order.
        service_incoming: For every node id, the service edges that end on it, in
            document order.
    """

    __slots__ = (
        "_ancestor_cache",
        "_children",
        "_index",
        "_masks",
        "_order",
        "_parents",
        "incoming",
        "nodes",
        "outgoing",
        "service_incoming",
    )

    def __init__(self, node_ids: Iterable[str], edges: Iterable[FlowEdge]) -> None:
        """Build the graph from node ids and edges in document order.

        Args:
            node_ids: Node ids in document order; later duplicates are ignored.
            edges: Edges in document order; those touching unknown ids are ignored.
        """
        self.nodes: tuple[str, ...] = tuple(dict.fromkeys(node_ids))
        self._index: dict[str, int] = {node_id: i for i, node_id in enumerate(self.nodes)}
        incoming: dict[str, list[FlowEdge]] = {node_id: [] for node_id in self.nodes}
        outgoing: dict[str, list[FlowEdge]] = {node_id: [] for node_id in self.nodes}
        services: dict[str, list[FlowEdge]] = {node_id: [] for node_id in self.nodes}
        # Index adjacency (with repeats for parallel edges) keeps the hot loops off dicts.
        self._parents: list[list[int]] = [[] for _ in self.nodes]
        self._children: list[list[int]] = [[] for _ in self.nodes]
        for edge in edges:
            source = self._index.get(edge.source)
            target = self._index.get(edge.target)
            if source is None or target is None:
                continue
            if edge.kind != "data":
                services[edge.target].append(edge)
                continue
            incoming[edge.target].append(edge)
            outgoing[edge.source].append(edge)
            self._parents[target].append(source)
            self._children[source].append(target)
        self.incoming: Mapping[str, tuple[FlowEdge, ...]] = MappingProxyType(
            {k: tuple(v) for k, v in incoming.items()}
        )
        self.outgoing: Mapping[str, tuple[FlowEdge, ...]] = MappingProxyType(
            {k: tuple(v) for k, v in outgoing.items()}
        )
        self.service_incoming: Mapping[str, tuple[FlowEdge, ...]] = MappingProxyType(
            {k: tuple(v) for k, v in services.items()}
        )
        self._order: list[int] | None = None
        self._masks: list[int] | None = None
        self._ancestor_cache: dict[str, frozenset[str]] = {}

    @classmethod
    def from_flow(cls, flow: Flow) -> FlowGraph:
        """The data graph of ``flow``."""
        return cls((node.id for node in flow.nodes), flow.edges)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index

    def __len__(self) -> int:
        return len(self.nodes)

    def position(self, node_id: str) -> int:
        """The document position of ``node_id`` among the graph's nodes.

        Raises:
            KeyError: ``node_id`` is not a node.
        """
        return self._index[node_id]

    # -- order ---------------------------------------------------------------------

    def _kahn(self) -> list[int]:
        """Kahn's algorithm, taking the ready node that comes first in the document.

        On a graph with cycles the result is shorter than ``nodes``: the nodes on a
        cycle, and everything downstream of one, never become ready.
        """
        if self._order is None:
            indegree = [len(parents) for parents in self._parents]
            ready = [i for i, d in enumerate(indegree) if d == 0]  # already a heap: sorted
            order: list[int] = []
            while ready:
                i = heapq.heappop(ready)
                order.append(i)
                for child in self._children[i]:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        heapq.heappush(ready, child)
            self._order = order
        return self._order

    def is_acyclic(self) -> bool:
        """True when the data edges have no cycle."""
        return len(self._kahn()) == len(self.nodes)

    def topological_order(self) -> list[str]:
        """Node ids so that every data edge points forward.

        Stable: among nodes that are ready at the same time, document order wins, so
        the same flow always gives the same order.

        Raises:
            FlowError: The data edges have a cycle.
        """
        order = self._kahn()
        if len(order) != len(self.nodes):
            cycle = self.cycles()[0]
            path = " -> ".join(repr(n) for n in [*cycle, cycle[0]])
            raise FlowError(f"flow has a cycle: {path}")
        return [self.nodes[i] for i in order]

    def cycles(self) -> list[list[str]]:
        """One cycle per strongly connected component that has one, in document order.

        Each cycle is its node ids in edge order, starting at the component's first node
        in document order (a self-loop is a one-node cycle). The path is a shortest
        cycle through that node, so it is readable in an error message.
        """
        if self.is_acyclic():
            return []
        graph = self._networkx()
        graph.add_nodes_from(range(len(self.nodes)))
        graph.add_edges_from((p, i) for i, parents in enumerate(self._parents) for p in parents)
        starts: list[tuple[int, set[int]]] = []
        import networkx as nx

        for component in nx.strongly_connected_components(graph):
            start = min(component)
            if len(component) > 1 or graph.has_edge(start, start):
                starts.append((start, component))
        starts.sort(key=lambda item: item[0])
        return [
            [self.nodes[i] for i in self._shortest_cycle(start, members)]
            for start, members in starts
        ]

    def _shortest_cycle(self, start: int, members: set[int]) -> list[int]:
        """A shortest cycle through ``start``, by breadth-first search inside its component."""
        came_from: dict[int, int] = {start: start}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for child in self._children[current]:
                if child == start:
                    path = [current]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    path.reverse()
                    return path
                if child in members and child not in came_from:
                    came_from[child] = current
                    queue.append(child)
        raise AssertionError("a strongly connected component always has a cycle")

    # -- ancestry ------------------------------------------------------------------

    def _networkx(self) -> Any:
        """An empty networkx DiGraph. networkx is imported only for cyclic graphs: the
        import costs about half a second, which every CLI start would otherwise pay."""
        import networkx as nx

        return nx.DiGraph()

    def _ancestor_masks(self) -> list[int]:
        """Per node, the bitmask of its ancestors; computed once, on first use."""
        if self._masks is None:
            self._masks = (
                self._masks_acyclic(self._kahn()) if self.is_acyclic() else self._masks_cyclic()
            )
        return self._masks

    def _masks_acyclic(self, order: list[int]) -> list[int]:
        masks = [0] * len(self.nodes)
        for i in order:
            mask = 0
            for parent in self._parents[i]:
                mask |= masks[parent] | (1 << parent)
            masks[i] = mask
        return masks

    def _masks_cyclic(self) -> list[int]:
        # Every node of a strongly connected component has the same ancestors, so walk the
        # condensation (a DAG of components) instead of the graph itself.
        import networkx as nx

        graph = self._networkx()
        graph.add_nodes_from(range(len(self.nodes)))
        graph.add_edges_from((p, i) for i, parents in enumerate(self._parents) for p in parents)
        condensed = nx.condensation(graph)
        component_of: dict[int, int] = condensed.graph["mapping"]
        component_masks: dict[int, int] = {}
        masks = [0] * len(self.nodes)
        for component in nx.topological_sort(condensed):
            members: set[int] = condensed.nodes[component]["members"]
            mask = 0
            on_cycle = len(members) > 1
            for member in members:
                for parent in self._parents[member]:
                    if component_of[parent] == component:
                        on_cycle = True  # covers a self-loop on a lone node
                    else:
                        mask |= component_masks[component_of[parent]] | (1 << parent)
            if on_cycle:
                for member in members:
                    mask |= 1 << member
            component_masks[component] = mask
            for member in members:
                masks[member] = mask
        return masks

    def is_ancestor(self, ancestor: str, node_id: str) -> bool:
        """True when a path of one or more data edges leads from ``ancestor`` to ``node_id``.

        Raises:
            KeyError: Either id is not a node.
        """
        bit = self._index[ancestor]
        return bool(self._ancestor_masks()[self._index[node_id]] >> bit & 1)

    def ancestors(self, node_id: str) -> frozenset[str]:
        """Every node with a path of one or more data edges to ``node_id``.

        A node is its own ancestor only when it lies on a cycle. Results are cached per
        node; prefer ``is_ancestor`` for single questions on large graphs.

        Raises:
            KeyError: ``node_id`` is not a node.
        """
        cached = self._ancestor_cache.get(node_id)
        if cached is None:
            mask = self._ancestor_masks()[self._index[node_id]]
            # bin() lists the bits most significant first; reverse it so position = index.
            bits = bin(mask)[:1:-1]
            cached = frozenset(self.nodes[i] for i, bit in enumerate(bits) if bit == "1")
            self._ancestor_cache[node_id] = cached
        return cached

    def reachable_from(self, roots: Iterable[str]) -> frozenset[str]:
        """The roots and every node a path of data edges leads to from one of them.

        Ids in ``roots`` that are not nodes are ignored.
        """
        seen = {self._index[r] for r in roots if r in self._index}
        queue = deque(seen)
        while queue:
            for child in self._children[queue.popleft()]:
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
        return frozenset(self.nodes[i] for i in seen)
