"""Runs: start (fresh, from a node, retry, replay), read, list, per-node views, diffs.

Functions take a session and ``flush``; the routes commit and hand the committed run
to the dispatcher. Every lookup is scoped by workspace (another workspace's ids are
"not found").

Values in node views, results and diffs are shown as the engine keeps them: a value
over the blob threshold is a reference ``{"$blob": "sha256:…", "size": n}``, not its
content, so reading a run never loads megabytes. (User data that merely looks like a
reference is shown as it was.)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from plait.node_runner.blobs import (
    DEFAULT_BLOB_THRESHOLD,
    ESCAPE_KEY,
    BlobStore,
    externalize,
)
from plait.node_runner.compiler import CompileError
from plait.node_runner.errors import PlaitError
from plait.node_runner.events import RunEvent
from plait.node_runner.execution_plan import ExecutionPlan
from plait.node_runner.state import NodeRecord, NodeStatus, RunState, rebuild

from ..db.models import Flow, FlowVersion, Run
from ..errors import ApiError, not_found
from ..runs.plans import PlanCache
from ..runs.store import read_events
from .scoping import get_owned, owned

TERMINAL = frozenset({"succeeded", "failed", "timed_out", "cancelled"})
RETRYABLE = frozenset({"failed", "timed_out", "cancelled"})
# A chain of child runs deeper than this is a flow that runs itself, most likely.
MAX_CHILD_DEPTH = 8


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives datetimes back without their zone; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def present(value: Any) -> Any:
    """A kept port value as users see it: escapes unwrapped, blob references kept."""
    if type(value) is dict and len(value) == 1 and ESCAPE_KEY in value:
        return value[ESCAPE_KEY]
    return value


# -- what a run runs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A flow's draft, or one of its versions, with its plan."""

    document: dict[str, Any]
    version: FlowVersion | None
    plan: ExecutionPlan


def resolve_target(
    session: Session, flow: Flow, version_number: int | None, plans: PlanCache
) -> Target:
    """The draft (``version_number`` None) or the numbered version of ``flow``, compiled."""
    version = None
    document = flow.document
    if version_number is not None:
        version = session.scalar(
            select(FlowVersion).where(
                FlowVersion.flow_id == flow.id, FlowVersion.number == version_number
            )
        )
        if version is None:
            raise not_found(f"version {version_number} of this flow")
        document = version.document
    return Target(document, version, plan_of(plans, document))


def plan_of(plans: PlanCache, document: dict[str, Any]) -> ExecutionPlan:
    try:
        return plans.plan_for(document)
    except CompileError as exc:
        problems = [p.model_dump(exclude_none=True) for p in exc.problems]
        raise ApiError(422, "invalid_flow", f"the flow cannot run: {exc}", problems) from None
    except PlaitError as exc:
        raise ApiError(422, "invalid_flow", f"the flow cannot run: {exc}") from None


def document_of(session: Session, run: Run) -> dict[str, Any] | None:
    """The document a run ran: its own copy (a draft run) or its version's."""
    if run.document is not None:
        return run.document
    if run.version_id is not None:
        version = session.get(FlowVersion, run.version_id)
        if version is not None:
            return version.document
    return None


def check_start(plan: ExecutionPlan, trigger: str | None, seeds: Mapping[str, Any]) -> str | None:
    """The trigger node that fires, or an ``ApiError`` saying why the run cannot start.

    The same choice the engine makes (ARCHITECTURE.md §5), made before the run is
    accepted so that a bad request is a 422, not a failed run.
    """
    triggers = plan.triggers
    if trigger is not None:
        if trigger not in triggers:
            raise ApiError(
                422, "invalid", f"{trigger!r} is not a trigger node of this flow", triggers
            )
        return trigger
    if not triggers or all(t in seeds for t in triggers):
        return None
    if len(triggers) == 1:
        return triggers[0]
    manual = [t for t in triggers if plan.nodes[t].plan.type == "trigger.manual"]
    if len(manual) == 1:
        return manual[0]
    raise ApiError(
        422, "invalid", f"this flow has {len(triggers)} triggers; name the one that fires", triggers
    )


def pinned_seeds(
    plan: ExecutionPlan,
    pinned: Mapping[str, Mapping[str, Any]],
    from_node: str | None,
    blobs: BlobStore,
) -> dict[str, dict[str, Any]]:
    """Seeds for a run with pinned outputs, optionally run from ``from_node``.

    A pinned node does not run: it counts as succeeded with the given outputs. With
    ``from_node``, that node and everything downstream of it run whatever is pinned; the
    nodes pinned among its ancestors (and elsewhere) feed it. Ancestors left unpinned
    run as usual.
    """
    scheduled = set(plan.scheduled)
    rerun: frozenset[str] = frozenset()
    if from_node is not None:
        if from_node not in scheduled:
            raise ApiError(422, "invalid", f"from_node {from_node!r} is not a node of this flow")
        rerun = plan.descendants(from_node) | {from_node}
    seeds: dict[str, dict[str, Any]] = {}
    for node_id, outputs in pinned.items():
        if node_id not in scheduled:
            raise ApiError(422, "invalid", f"pinned node {node_id!r} is not a node of this flow")
        if node_id in rerun:
            continue  # it runs again: that is what running from a node means
        names = plan.nodes[node_id].output_names
        unknown = set(outputs) - names - {"error"}
        if unknown:
            raise ApiError(
                422, "invalid", f"pinned node {node_id!r} has no output port {sorted(unknown)[0]!r}"
            )
        # As the engine keeps node outputs: large values in the blob store, and user data
        # shaped like a blob reference escaped, so a pin can never name a blob to read.
        seeds[node_id] = {
            port: externalize(value, blobs, DEFAULT_BLOB_THRESHOLD)
            for port, value in outputs.items()
        }
    return seeds


# -- creating runs -------------------------------------------------------------------------


def idempotency_key(workspace_id: str, key: str) -> str:
    """The stored form of a client's ``Idempotency-Key``: scoped to the workspace, so two
    workspaces' keys never meet."""
    return f"api:{workspace_id}:{key}"


def by_idempotency_key(session: Session, stored_key: str) -> Run | None:
    return session.scalar(select(Run).where(Run.idempotency_key == stored_key))


def create_run(
    session: Session,
    *,
    workspace_id: str,
    flow: Flow,
    target: Target,
    input: Any,
    kind: str = "manual",
    trigger_node: str | None = None,
    seeds: dict[str, Any] | None = None,
    created_by: str | None = None,
    idempotency_key: str | None = None,
    parent_run_id: str | None = None,
) -> Run:
    """A new ``queued`` run (flushed, not committed): commit, then dispatch it."""
    run = Run(
        workspace_id=workspace_id,
        flow_id=flow.id,
        version_id=target.version.id if target.version is not None else None,
        trigger=kind,
        trigger_node=trigger_node,
        status="queued",
        bundle_id=target.plan.bundle_id,
        # A draft changes; the run keeps the document it ran, to resume and to show it.
        document=target.document if target.version is None else None,
        input=input,
        seeds=seeds or None,
        parent_run_id=parent_run_id,
        idempotency_key=idempotency_key,
        created_by=created_by,
    )
    session.add(run)
    session.flush()
    return run


def child_depth(session: Session, run_id: str) -> int:
    """How many parents a run has (bounded by ``MAX_CHILD_DEPTH + 1``)."""
    depth = 0
    current: str | None = run_id
    while current is not None and depth <= MAX_CHILD_DEPTH:
        current = session.scalar(select(Run.parent_run_id).where(Run.id == current))
        if current is not None:
            depth += 1
    return depth


def find_flow(session: Session, workspace_id: str, project_id: str, ref: str) -> Flow | None:
    """A flow by id in the workspace, else by name in the project."""
    flow: Flow | None = session.scalar(owned(Flow, workspace_id).where(Flow.id == ref))
    if flow is None:
        flow = session.scalar(
            owned(Flow, workspace_id)
            .where(Flow.project_id == project_id, Flow.name == ref)
            .order_by(Flow.created_at)
        )
    return flow


# -- reading runs ----------------------------------------------------------------------------


def get_run(session: Session, workspace_id: str, run_id: str) -> Run:
    run: Run = get_owned(session, Run, run_id, workspace_id, "run")
    return run


def get_flow(session: Session, workspace_id: str, flow_id: str) -> Flow:
    flow: Flow = get_owned(session, Flow, flow_id, workspace_id, "flow")
    return flow


def version_numbers(session: Session, runs: Iterable[Run]) -> dict[str, int]:
    ids = {r.version_id for r in runs if r.version_id is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(FlowVersion.id, FlowVersion.number).where(FlowVersion.id.in_(ids))
    )
    return {version_id: number for version_id, number in rows}


def _encode_cursor(run: Run) -> str:
    created = aware(run.created_at)
    assert created is not None
    return base64.urlsafe_b64encode(f"{created.isoformat()}|{run.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, _, run_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), run_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, "invalid", "cursor: not a cursor this API gave out") from None


def list_runs(
    session: Session,
    workspace_id: str,
    flow_id: str,
    *,
    statuses: Iterable[str] = (),
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Run], str | None]:
    """A flow's runs, newest first; returns a page and the cursor of the next one."""
    query = owned(Run, workspace_id).where(Run.flow_id == flow_id)
    statuses = list(statuses)
    if statuses:
        query = query.where(Run.status.in_(statuses))
    if cursor:
        created, run_id = _decode_cursor(cursor)
        if session.get_bind().dialect.name == "sqlite":
            created = created.astimezone(UTC).replace(tzinfo=None)
        query = query.where(
            or_(Run.created_at < created, and_(Run.created_at == created, Run.id < run_id))
        )
    rows = list(
        session.scalars(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor(rows[-1]) if more else None)


def events(
    session: Session, run_id: str, *, after_seq: int = 0, limit: int = 500
) -> list[RunEvent]:
    return read_events(session.connection(), run_id, after_seq=after_seq, limit=limit)


def state_of(session: Session, run: Run) -> RunState:
    """The run's state: the fold of its durable events."""
    return rebuild(read_events(session.connection(), run.id), run.id)


# -- per-node views ------------------------------------------------------------------------


def _timestamp(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _has_value(record: NodeRecord) -> bool:
    """Whether a node's outputs reach its edges (see the engine's edge table)."""
    if record.status is NodeStatus.SUCCEEDED:
        return True
    return record.status in (NodeStatus.FAILED, NodeStatus.TIMED_OUT) and record.routed != "stop"


def node_inputs(plan: ExecutionPlan, state: RunState, node_id: str) -> dict[str, Any]:
    """What a node was given, rebuilt from the plan's edges and its upstream outputs."""
    prepared = plan.nodes.get(node_id)
    if prepared is None or not prepared.in_edges:
        return {}
    multi = {port.name for port in prepared.cls.input_ports() if port.multi}
    values: dict[str, Any] = {}
    for edge in prepared.in_edges:  # in edge order, as the engine binds them
        source = state.nodes.get(edge.source)
        if source is None or not _has_value(source) or not source.outputs:
            continue
        if edge.source_port not in source.outputs:
            continue
        value = present(source.outputs[edge.source_port])
        if edge.target_port in multi:
            values.setdefault(edge.target_port, []).append(value)
        else:
            values[edge.target_port] = value
    return values


def node_views(plan: ExecutionPlan | None, state: RunState) -> dict[str, dict[str, Any]]:
    """``{node_id: {status, attempts, inputs, outputs, error, started_at, finished_at}}``.

    ``inputs`` is given for nodes that ran (an attempt was made), when the plan is known.
    A run that has not started yet shows its plan's nodes, pending.
    """
    views: dict[str, dict[str, Any]] = {}
    node_ids = list(state.nodes)
    if plan is not None and state.seq == 0:
        node_ids = list(plan.scheduled)
    for node_id in node_ids:
        record = state.nodes.get(node_id) or NodeRecord()
        ran = record.attempt > 0
        views[node_id] = {
            "status": str(record.status),
            "attempts": record.attempt,
            "inputs": node_inputs(plan, state, node_id) if ran and plan is not None else None,
            "outputs": (
                {port: present(v) for port, v in record.outputs.items()}
                if record.outputs is not None
                else None
            ),
            "error": record.error,
            "started_at": _timestamp(record.started_at),
            "finished_at": _timestamp(record.finished_at),
        }
    return views


def plan_or_none(session: Session, run: Run, plans: PlanCache) -> ExecutionPlan | None:
    """The run's plan, or None when its document no longer compiles (views go without
    inputs then)."""
    document = document_of(session, run)
    if document is None:
        return None
    try:
        return plans.plan_for(document)
    except PlaitError:
        return None


# -- retry, replay, diff ------------------------------------------------------------------


def diff(left: RunState, right: RunState) -> dict[str, dict[str, Any]]:
    """Per node: both sides' status and outputs, and the output ports that differ."""
    out: dict[str, dict[str, Any]] = {}
    for node_id in dict.fromkeys([*left.nodes, *right.nodes]):
        a, b = left.nodes.get(node_id), right.nodes.get(node_id)
        a_out = {p: present(v) for p, v in (a.outputs or {}).items()} if a else {}
        b_out = {p: present(v) for p, v in (b.outputs or {}).items()} if b else {}
        ports = sorted(p for p in a_out.keys() | b_out.keys() if a_out.get(p) != b_out.get(p))
        a_status = str(a.status) if a else None
        b_status = str(b.status) if b else None
        out[node_id] = {
            "left": {"status": a_status, "outputs": a_out if a else None},
            "right": {"status": b_status, "outputs": b_out if b else None},
            "ports": ports,
            "changed": bool(ports) or a_status != b_status,
        }
    return out
