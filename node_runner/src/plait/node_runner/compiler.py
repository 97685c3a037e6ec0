"""Compile a valid flow into a content-addressed bundle (ARCHITECTURE.md §5).

A bundle is three files: ``flow.json`` (the canonical source), ``flow.py`` (readable
generated code, one step function per node) and ``manifest.json`` (what the bundle
holds, with the digests of the other two). The bundle id is the SHA-256 of the canonical
manifest, so the same flow compiled by the same compiler gives the same bytes and id.

No user string becomes code: ids, names, ports and params reach ``flow.py`` only as
``repr`` string literals (params as one JSON string literal), step function names are
derived from ids through a strict ASCII filter, and every module passes ``ast.parse``
before it is hashed.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import hashlib
import io
import json
import keyword
import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from . import __version__
from .errors import BundleError, FlowError
from .flow import Flow, RetryPolicy, canonical_json, compact_json, dump_flow, load_flow
from .registry import NodeRegistry
from .sdk import Node

BUNDLE_FORMAT = 1
COMPILER = f"plait-node-runner {__version__}"
FILES = ("flow.json", "flow.py", "manifest.json")

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("plait.node_runner", "templates"),
    autoescape=False,  # we emit Python, not HTML; every value is pre-rendered as a literal
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


class CompileError(FlowError):
    """A flow that does not validate; ``problems`` says why."""

    def __init__(self, message: str, problems: list[Any]) -> None:
        super().__init__(message)
        self.problems = problems


def pylit(value: Any) -> str:
    """A Python literal for a scalar. Strings go through ``repr``: never code."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BundleError("non-finite number cannot be compiled")
        return repr(value)
    raise BundleError(f"cannot emit {type(value).__name__} as a literal")


_IDENT_JUNK = re.compile(r"[^a-z0-9_]+")


def step_function_names(node_ids: Iterable[str]) -> dict[str, str]:
    """A readable, unique Python function name per node id, e.g. ``step_send_mail``.

    Only ``[a-z0-9_]`` survive from the id, so no id can inject code through a name.
    """
    names: dict[str, str] = {}
    used: set[str] = set()
    for node_id in node_ids:
        slug = _IDENT_JUNK.sub("_", node_id.lower()).strip("_")[:40] or "node"
        base = f"step_{slug}"
        name, n = base, 2
        while name in used or keyword.iskeyword(name):
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        names[node_id] = name
    return names


def _retry_args(policy: RetryPolicy) -> str:
    default = RetryPolicy()
    parts = []
    for key in ("max_attempts", "backoff", "delay_s", "max_delay_s", "jitter"):
        value = getattr(policy, key)
        if value != getattr(default, key):
            parts.append(f"{key}={pylit(value)}")
    if policy.retry_on != default.retry_on:
        items = ", ".join(pylit(r) for r in policy.retry_on)
        parts.append(f"retry_on=({items}{',' if len(policy.retry_on) == 1 else ''})")
    return ", ".join(parts)


def render_flow_module(flow: Flow, registry: NodeRegistry) -> str:
    """The source of ``flow.py`` for a flow (assumed valid)."""
    functions = step_function_names(n.id for n in flow.nodes)
    by_target: dict[str, list[Any]] = {}
    for edge in flow.edges:
        if edge.kind == "data":
            by_target.setdefault(edge.target, []).append(edge)
    nodes = []
    for node in flow.nodes:
        cls = registry.get(node.type, node.version)
        join: str = node.join or "all"
        if cls is not None and cls.spec.join_param:
            join = str(node.params.get(cls.spec.join_param, join))
        bindings = []
        incoming = by_target.get(node.id, [])
        ports = cls.input_ports() if cls is not None else []
        for port in ports:
            if port.service:
                continue
            edges = [e for e in incoming if e.target_port == port.name]
            if not edges:
                continue
            if port.multi:
                ids = ", ".join(pylit(e.id) for e in edges)
                expr = f"rt.many(({ids}{',' if len(edges) == 1 else ''}))"
            else:
                expr = f"rt.one({pylit(edges[0].id)})"
            bindings.append({"port": pylit(port.name), "expr": expr})
        nodes.append(
            {
                "id": pylit(node.id),
                "type": pylit(node.type),
                "version": pylit(node.version),
                "params": pylit(compact_json(node.params)) if node.params else "",
                "retry": _retry_args(node.retry),
                "timeout_s": pylit(node.timeout_s),
                "on_error": pylit(node.on_error) if node.on_error != "stop" else "",
                "join": pylit(join) if join != "all" else "",
                "function": functions[node.id],
                "bindings": bindings,
            }
        )
    edges = [
        {
            "id": pylit(e.id),
            "source": pylit(e.source),
            "source_port": pylit(e.source_port),
            "target": pylit(e.target),
            "target_port": pylit(e.target_port),
            "kind": pylit(e.kind),
        }
        for e in flow.edges
    ]
    source = _TEMPLATES.get_template("flow.py.j2").render(
        plait_version=__version__,
        flow_name=pylit(flow.name),
        timeout_s=pylit(flow.timeout_s),
        max_concurrency=pylit(flow.max_concurrency),
        nodes=nodes,
        edges=edges,
    )
    try:
        with _gc_paused():
            ast.parse(source, filename="flow.py")
    except SyntaxError as exc:  # a compiler bug, never a user error
        raise BundleError(f"generated flow.py does not parse: {exc}") from exc
    return source


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest(flow: Flow, registry: NodeRegistry, files: dict[str, bytes]) -> dict[str, Any]:
    triggers, routes, schedules = [], [], []
    for node in flow.nodes:
        cls = registry.get(node.type, node.version)
        if cls is None or not cls.spec.trigger:
            continue
        triggers.append({"node_id": node.id, "type": node.type, "version": node.version})
        params = _trigger_params(cls, node.params)
        if node.type == "trigger.webhook":
            routes.append(
                {
                    "node_id": node.id,
                    "method": params.get("method"),
                    "path": params.get("path"),
                    "mode": params.get("mode"),
                }
            )
        elif node.type == "trigger.schedule":
            schedules.append(
                {
                    "node_id": node.id,
                    "cron": params.get("cron"),
                    "timezone": params.get("timezone"),
                }
            )
    types = sorted({(n.type, n.version) for n in flow.nodes})
    return {
        "bundle_format": BUNDLE_FORMAT,
        "compiler": COMPILER,
        "flow": {"name": flow.name, "schema_version": flow.schema_version},
        "nodes": [{"id": n.id, "type": n.type, "version": n.version} for n in flow.nodes],
        "node_types": [{"type": t, "version": v} for t, v in types],
        "triggers": triggers,
        "routes": routes,
        "schedules": schedules,
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }


def _trigger_params(cls: type[Node], params: dict[str, Any]) -> dict[str, Any]:
    """A trigger's params as the node reads them (its defaults filled in), so the manifest
    says what the node will do; the raw params when they do not validate."""
    try:
        validated: dict[str, Any] = cls.Params.model_validate(params).model_dump(mode="json")
        return validated
    except ValueError:
        return params


def _bundle_id(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "id"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """An immutable compiled flow. ``files`` maps each of ``FILES`` to its bytes."""

    id: str
    files: dict[str, bytes]

    @cached_property
    def manifest(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.files["manifest.json"])
        return result

    @cached_property
    def flow(self) -> Flow:
        return load_flow(self.files["flow.json"])

    @property
    def source(self) -> str:
        return self.files["flow.py"].decode()

    def write_dir(self, path: str | Path) -> Path:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (out / name).write_bytes(self.files[name])
        return out

    def to_zip(self) -> bytes:
        """Deterministic zip bytes: fixed order, timestamps and permissions."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in FILES:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, self.files[name])
        return buf.getvalue()

    def write_zip(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self.to_zip())
        return out


def compile_flow(flow: Flow | str | bytes | dict[str, Any], registry: NodeRegistry) -> Bundle:
    """Validate and compile a flow; ``CompileError`` lists the problems when it is invalid."""
    from .validation import has_errors, validate

    if not isinstance(flow, Flow):
        flow = load_flow(flow)
    problems = validate(flow, registry)
    if has_errors(problems):
        errors = [p for p in problems if p.severity == "error"]
        raise CompileError(f"flow has {len(errors)} error(s); first: {errors[0].message}", problems)
    return build_bundle(flow, registry)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: compiling allocates many short-lived, acyclic objects (AST
    nodes, JSON chunks) that make generational collections run over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_bundle(flow: Flow, registry: NodeRegistry) -> Bundle:
    """Render the bundle of an already-validated flow."""
    with _gc_paused():
        return _build_bundle(flow, registry)


def _build_bundle(flow: Flow, registry: NodeRegistry) -> Bundle:
    files = {
        "flow.json": dump_flow(flow).encode(),
        "flow.py": render_flow_module(flow, registry).encode(),
    }
    manifest = _manifest(flow, registry, files)
    bundle_id = _bundle_id(manifest)
    manifest["id"] = bundle_id
    files["manifest.json"] = canonical_json(manifest).encode()
    return Bundle(bundle_id, files)


def read_bundle(path: str | Path, *, expected_id: str | None = None) -> Bundle:
    """Read a bundle directory or zip and check every digest; refuse anything that differs."""
    p = Path(path)
    files: dict[str, bytes] = {}
    try:
        if p.is_dir():
            for name in FILES:
                files[name] = (p / name).read_bytes()
        else:
            with zipfile.ZipFile(p) as zf:
                names = set(zf.namelist())
                if names != set(FILES):
                    raise BundleError(f"bundle zip must hold exactly {FILES}, not {sorted(names)}")
                for name in FILES:
                    files[name] = zf.read(name)
    except FileNotFoundError as exc:
        raise BundleError(f"not a bundle: {exc.filename} is missing") from None
    except zipfile.BadZipFile:
        raise BundleError(f"not a bundle directory or zip: {p}") from None
    return bundle_from_files(files, expected_id=expected_id)


def bundle_from_files(files: dict[str, bytes], *, expected_id: str | None = None) -> Bundle:
    """A bundle from its files' bytes, after checking its layout, digests and id."""
    if set(files) != set(FILES):
        raise BundleError(f"a bundle holds exactly {FILES}, not {sorted(files)}")
    data = files["manifest.json"]
    try:
        manifest = json.loads(data)
        # Only the canonical bytes: the id is a hash of the parsed manifest, so any other
        # spelling of it (whitespace, escapes) would be a second byte string under one id.
        canonical = isinstance(manifest, dict) and canonical_json(manifest).encode() == data
    except (TypeError, ValueError, RecursionError):
        canonical = False
    if not canonical:
        raise BundleError("bundle manifest.json is not a manifest in canonical JSON")
    digests = manifest.get("files")
    for name in ("flow.json", "flow.py"):
        if not isinstance(digests, dict) or _sha256(files[name]) != digests.get(name):
            raise BundleError(f"bundle file {name} does not match its digest in the manifest")
    bundle_id = _bundle_id(manifest)
    if manifest.get("id") != bundle_id:
        raise BundleError("bundle manifest does not hash to its id")
    if expected_id is not None and expected_id != bundle_id:
        raise BundleError(f"bundle hashes to {bundle_id}, not the expected {expected_id}")
    return Bundle(bundle_id, dict(files))
