"""Routes of the `flows` tag (drafts, validate, compile preview) and the `versions` tag.

A flow's draft is what the editor saves: it may be unfinished, but it is always a
well-formed flow document. Saving uses optimistic locking on ``revision``. Versions are
immutable, numbered snapshots cut from a draft that validates.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ..deps import CurrentPrincipal, Editor, PlatformDep, SessionDep
from ..schemas.common import ID_PATTERN, MAX_INT, MAX_OFFSET, error_responses
from ..schemas.flows import (
    CompilePreview,
    DocumentCheck,
    FlowCreate,
    FlowPage,
    FlowPublic,
    FlowSummary,
    FlowUpdate,
    ValidationResult,
)
from ..schemas.versions import (
    PatchOperation,
    VersionCreate,
    VersionPage,
    VersionPublic,
    VersionSummary,
)
from ..services import flows as service
from ..services import projects, versions
from .projects import ProjectId

flows = APIRouter(tags=["flows"], responses=error_responses(401, 422))
versions_router = APIRouter(tags=["versions"], responses=error_responses(401, 422))

FlowId = Annotated[str, Path(pattern=ID_PATTERN, description="The flow's id.")]
Number = Annotated[int, Path(ge=1, le=MAX_INT, description="A version number.")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many items first.")]
Search = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="Keep the flows whose name contains this text (case-insensitive).",
    ),
]


@flows.post(
    "/projects/{project_id}/flows",
    status_code=201,
    summary="Create a flow",
    responses=error_responses(403, 404, 413),
)
def create(
    project_id: ProjectId,
    body: FlowCreate,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> FlowPublic:
    """Create a flow in a project from a document (an empty flow when none is given).

    The document may be an unfinished draft that does not validate yet, but it must be a
    well-formed flow document (422 `invalid_document`, with the located problems in
    `details.problems`) and at most the flow size limit (413). It is stored in canonical
    form, at revision 1. `name`, when given, replaces the document's `name`."""
    project = projects.get(session, principal.workspace_id, project_id)
    document = service.canonical(
        body.document,
        platform.registry,
        max_bytes=platform.settings.max_flow_bytes,
        name=body.name,
    )
    flow = service.create(session, project, document)
    session.commit()
    return FlowPublic.model_validate(flow)


@flows.get(
    "/projects/{project_id}/flows",
    name="list",
    summary="List a project's flows",
    responses=error_responses(404),
)
def list_flows(
    project_id: ProjectId,
    principal: CurrentPrincipal,
    session: SessionDep,
    q: Search = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FlowPage:
    """The project's flows by name, without their documents; `q` searches the names."""
    project = projects.get(session, principal.workspace_id, project_id)
    rows, total = service.list_page(session, project, q=q, limit=limit, offset=offset)
    return FlowPage(
        items=[FlowSummary.model_validate(f) for f in rows], total=total, limit=limit, offset=offset
    )


@flows.get("/flows/{flow_id}", summary="Read a flow", responses=error_responses(404))
def read(flow_id: FlowId, principal: CurrentPrincipal, session: SessionDep) -> FlowPublic:
    """A flow with its draft document and current revision."""
    return FlowPublic.model_validate(service.get(session, principal.workspace_id, flow_id))


@flows.put(
    "/flows/{flow_id}", summary="Save a flow's draft", responses=error_responses(403, 404, 409, 413)
)
def update(
    flow_id: FlowId,
    body: FlowUpdate,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> FlowPublic:
    """Replace the draft. `revision` must be the flow's current revision: every accepted
    save increments it, and a save based on an older one is refused with 409 `conflict`
    and `details.current_revision`, so concurrent editors never overwrite each other
    unknowingly. The document rules of *Create a flow* apply (422, 413)."""
    flow = service.get(session, principal.workspace_id, flow_id)
    document = service.canonical(
        body.document,
        platform.registry,
        max_bytes=platform.settings.max_flow_bytes,
        name=body.name,
    )
    service.update_draft(session, flow, document, body.revision)
    session.commit()
    return FlowPublic.model_validate(flow)


@flows.delete(
    "/flows/{flow_id}",
    status_code=204,
    summary="Delete a flow",
    responses=error_responses(403, 404),
)
def delete(flow_id: FlowId, principal: Editor, session: SessionDep) -> None:
    """Delete a flow with its versions and runs."""
    service.delete(session, service.get(session, principal.workspace_id, flow_id))
    session.commit()


@flows.post(
    "/flows/{flow_id}/validate",
    summary="Validate a flow",
    responses=error_responses(404, 413),
)
def validate(
    flow_id: FlowId,
    principal: CurrentPrincipal,
    session: SessionDep,
    platform: PlatformDep,
    body: DocumentCheck | None = None,
) -> ValidationResult:
    """Every problem with the given `document`, or with the saved draft when none is
    given, as the engine reports them: `code`, `message`, `severity` and where
    (`node_id`, `edge_id`, `field`). `valid` is true when no problem is an error. A
    document that is not even a flow yet is answered with `invalid_document` problems, not
    an error. Changes nothing, so viewers may call it."""
    flow = service.get(session, principal.workspace_id, flow_id)
    document = flow.document if body is None or body.document is None else body.document
    service.check_size(document, platform.settings.max_flow_bytes)
    problems = service.check(document, platform.registry)
    return ValidationResult(
        valid=not any(p.severity == "error" for p in problems), problems=problems
    )


@flows.post(
    "/flows/{flow_id}/compile",
    summary="Preview a flow's bundle",
    responses=error_responses(404, 413),
)
def compile(
    flow_id: FlowId,
    principal: CurrentPrincipal,
    session: SessionDep,
    platform: PlatformDep,
    body: DocumentCheck | None = None,
) -> CompilePreview:
    """Compile the given `document` (or the saved draft) and show the result without
    keeping it: the bundle id, the generated `flow.py` and the manifest. A flow with
    errors gets 422 `invalid_flow` with the problems in `details.problems`. Changes
    nothing, so viewers may call it."""
    flow = service.get(session, principal.workspace_id, flow_id)
    document = flow.document if body is None or body.document is None else body.document
    bundle, warnings = service.compile_document(
        document, platform.registry, max_bytes=platform.settings.max_flow_bytes
    )
    return CompilePreview(
        bundle_id=bundle.id, flow_py=bundle.source, manifest=bundle.manifest, warnings=warnings
    )


# -- versions --------------------------------------------------------------------------


@versions_router.post(
    "/flows/{flow_id}/versions",
    name="create",
    status_code=201,
    summary="Cut a version",
    responses=error_responses(403, 404, 409),
)
def create_version(
    flow_id: FlowId,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
    body: VersionCreate | None = None,
) -> VersionPublic:
    """Cut the next version (1, 2, …) from the flow's saved draft. The draft must
    validate — with a trigger, since versions are what gets published — else 422
    `invalid_flow` with the problems; it is compiled and the version keeps the document
    and the bundle id. Versions never change."""
    flow = service.get(session, principal.workspace_id, flow_id)
    version = versions.create(
        session,
        flow,
        platform.registry,
        author_id=principal.user_id,
        note=body.note if body else "",
        max_bytes=platform.settings.max_flow_bytes,
    )
    session.commit()
    return VersionPublic.model_validate(version)


@versions_router.get(
    "/flows/{flow_id}/versions",
    name="list",
    summary="List a flow's versions",
    responses=error_responses(404),
)
def list_versions(
    flow_id: FlowId,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> VersionPage:
    """The flow's versions, newest first, without their documents."""
    flow = service.get(session, principal.workspace_id, flow_id)
    rows, total = versions.list_page(session, flow, limit=limit, offset=offset)
    return VersionPage(
        items=[VersionSummary.model_validate(v) for v in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@versions_router.get(
    "/flows/{flow_id}/versions/{number}",
    name="read",
    summary="Read a version",
    responses=error_responses(404),
)
def read_version(
    flow_id: FlowId, number: Number, principal: CurrentPrincipal, session: SessionDep
) -> VersionPublic:
    """One version of the flow, by number, with its document."""
    flow = service.get(session, principal.workspace_id, flow_id)
    return VersionPublic.model_validate(versions.get(session, flow, number))


@versions_router.get(
    "/flows/{flow_id}/versions/{a}/diff/{b}",
    name="diff",
    summary="Diff two versions",
    response_model_exclude_unset=True,
    responses=error_responses(404),
)
def diff_versions(
    flow_id: FlowId, a: Number, b: Number, principal: CurrentPrincipal, session: SessionDep
) -> list[PatchOperation]:
    """The RFC 6902 JSON patch that turns version `a`'s document into version `b`'s
    (`[]` when they are the same). Apply it with any JSON Patch library."""
    flow = service.get(session, principal.workspace_id, flow_id)
    return [PatchOperation.model_validate(op) for op in versions.diff(session, flow, a, b)]


router = APIRouter()
router.include_router(flows)
router.include_router(versions_router)
