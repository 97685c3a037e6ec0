"""``plait serve``: the whole platform in one process (ARCHITECTURE.md §2, embedded default).

One uvicorn server carries the API (``create_app``), the editor's static files at ``/``
and, through the app's lifespan, the run dispatcher and live events. A second uvicorn
server in the same event loop carries the router (``routing.create_platform_router``) on
the router port (default 8080; 0 for none): it shares the API's dispatcher, so a webhook
run executes in this process. Before it listens it brings the database to the latest
migration, makes the first workspace and its owner on a first start (with a sample
project made from ``examples/``, and the project ``demo`` whose ``/hello/{name}`` flow is
published on ``prod``), and prints a one-time login link. SIGTERM or Ctrl-C stops it
gracefully: both servers refuse new connections, open requests get a bounded time to
finish, the lifespan's shutdown runs, and the process exits 0.

``serve_router`` is ``plait router``: the router alone, with its own dispatcher, on the
same settings and database. ``serve_api`` is ``plait api``: the API and the editor alone,
the control plane of a scaled installation (ARCHITECTURE.md §2).

This module is imported only by the ``serve`` command, so it may import the server's
libraries at the top.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any, TextIO
from urllib.parse import quote

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from . import __version__
from .app import create_app
from .db.models import Membership
from .platform import Platform
from .portability import project_by_slug, seed_sample_project
from .routing import create_platform_router
from .services.auth import LOGIN_LINK_TTL, bootstrap

log = logging.getLogger(__name__)

# Where a source checkout keeps the editor build and the example flows.
REPO_ROOT = Path(__file__).resolve().parents[4]
EDITOR_DIST_ENV = "PLAIT_EDITOR_DIST"
EXAMPLES_DIR = REPO_ROOT / "examples"

# Open requests get this long to finish after SIGTERM; the whole stop gets the hard bound,
# after which the process exits 1 whatever is still running.
GRACEFUL_SHUTDOWN_S = 10
HARD_SHUTDOWN_S = 30

EXIT_OK = 0
EXIT_FAILED = 1


class ServeError(Exception):
    """The server cannot start; the message is one line that says what to do."""


# -- the editor ----------------------------------------------------------------------------


def find_editor_dist() -> Path | None:
    """The editor build to serve: ``$PLAIT_EDITOR_DIST``, else ``editor/dist`` of the
    checkout; None when it holds no ``index.html`` (not built)."""
    configured = os.environ.get(EDITOR_DIST_ENV)
    dist = Path(configured) if configured else REPO_ROOT / "editor" / "dist"
    return dist if (dist / "index.html").is_file() else None


class EditorFiles(StaticFiles):
    """The editor's build, as a single-page app: a path that is not a file and has no
    extension (``/flows/3f9c``) gets ``index.html``, and the router in the browser takes it
    from there. Unknown ``/api/…`` paths keep their JSON 404."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            name = PurePosixPath(path).name
            if exc.status_code != 404 or path.split("/", 1)[0] == "api" or "." in name:
                raise
            response = await super().get_response("index.html", scope)
        if response.media_type == "text/html":
            # index.html names the hashed asset files of one build: never cache it.
            response.headers["cache-control"] = "no-cache"
        return response


NOT_BUILT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plait: the editor is not built</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;
         padding: 0 1rem; color: #1f2328; }}
  code, pre {{ background: #f3f4f6; border-radius: 4px; padding: .1rem .3rem; }}
  pre {{ padding: .75rem 1rem; }}
</style>
</head>
<body>
<h1>The Plait editor is not built</h1>
<p>The API is running (version {version}), but there is no editor build to serve here.
Build it once, then restart <code>plait serve</code>:</p>
<pre>cd editor &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>Or point <code>{env}</code> at a directory that holds a build
(its <code>index.html</code>).</p>
<p>Meanwhile the API and its documentation are at <a href="/api/docs">/api/docs</a>, and
the <code>plait</code> command line talks to this server (<code>plait login</code>).</p>
</body>
</html>
"""


def build_app(platform: Platform, editor_dist: Path | None) -> FastAPI:
    """The API app with the editor at ``/`` (or a page that says how to build it).

    The database is migrated before the server starts, so the lifespan does not do it again.
    """
    app = create_app(platform, migrate=False)
    if editor_dist is not None:
        # Mounted last, so every /api route matches before the catch-all.
        app.mount("/", EditorFiles(directory=editor_dist, html=True), name="editor")
    else:
        page = NOT_BUILT_PAGE.format(version=__version__, env=EDITOR_DIST_ENV)

        async def editor_not_built() -> HTMLResponse:
            return HTMLResponse(page)

        app.add_api_route("/", editor_not_built, methods=["GET"], include_in_schema=False)
    return app


# -- first start ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StartInfo:
    """What the start-up banner tells: the login link, and what a first start made."""

    login_url: str
    workspace: str
    first_start: bool
    sample: tuple[str, int] | None  # (project slug, number of flows) when seeded now
    demo: bool = False  # the demo project was made and published now


DEMO_SLUG = "demo"
DEMO_STAGE = "prod"
# The demo's one flow: GET /hello/{name} answers "Hello {name}" (ARCHITECTURE.md §3).
DEMO_FLOW: dict[str, Any] = {
    "schema_version": 1,
    "name": "Hello webhook",
    "nodes": [
        {
            "id": "hook",
            "type": "trigger.webhook",
            "version": 1,
            "position": {"x": 0, "y": 0},
            "params": {"method": "GET", "path": "/hello/{name}"},
        },
        {
            "id": "reply",
            "type": "http.respond",
            "version": 1,
            "position": {"x": 300, "y": 0},
            "params": {"status": 200, "body": "Hello {{ inputs.input.name }}"},
        },
    ],
    "edges": [
        {
            "id": "e1",
            "source": "hook",
            "source_port": "path_params",
            "target": "reply",
            "target_port": "input",
        }
    ],
}


def seed_demo_project(
    session: Session, platform: Platform, workspace_id: str, user_id: str
) -> bool:
    """Make the project ``demo`` with the ``Hello`` flow and publish it on ``prod``.

    False (and nothing done) when the slug is taken already: the demo is made once and
    never forced back, like the sample.
    """
    from .services import flows, projects, publish

    if project_by_slug(session, DEMO_SLUG) is not None:
        return False
    settings = platform.settings
    project = projects.create(session, workspace_id, name="Demo", slug=DEMO_SLUG)
    document = flows.canonical(DEMO_FLOW, platform.registry, max_bytes=settings.max_flow_bytes)
    flow = flows.create(session, project, document)
    publish.publish(
        session,
        flow,
        DEMO_STAGE,
        registry=platform.registry,
        blobs=platform.blobs,
        user_id=user_id,
        max_bytes=settings.max_flow_bytes,
    )
    return True


def prepare(platform: Platform, *, sample: bool, examples: Path = EXAMPLES_DIR) -> StartInfo:
    """Make the first workspace and owner (first start only), seed the sample and demo
    projects, and issue a fresh one-time login link for the owner. The database must be
    migrated."""
    with platform.db.session() as session:
        first_start = (
            session.scalar(select(Membership.id).where(Membership.role == "owner")) is None
        )
        workspace, owner, token = bootstrap(session)
        seeded = None
        demo = False
        if first_start and sample:
            made = seed_sample_project(session, workspace.id, examples)
            if made is not None:
                seeded = (made[0].slug, made[1])
            demo = seed_demo_project(session, platform, workspace.id, owner.id)
    link = f"{platform.settings.base_url}/api/auth/link?token={quote(token, safe='')}"
    return StartInfo(link, workspace.name, first_start, seeded, demo)


def router_url(platform: Platform, project: str = "{project}", stage: str = "{stage}") -> str:
    """Where the router answers for a project stage: ``http://{project}-{stage}.{base}:{port}``."""
    settings = platform.settings
    port = "" if settings.router_port == 80 else f":{settings.router_port}"
    return f"http://{project}-{stage}.{settings.base_domain}{port}"


def _display(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host


def banner(
    platform: Platform, info: StartInfo, editor_dist: Path | None, *, router_here: bool = True
) -> str:
    """The lines printed once the server listens; the login link stands out.

    ``router_here`` is False for ``plait api``: the router is another process.
    """
    settings = platform.settings
    base = settings.base_url
    hours = int(LOGIN_LINK_TTL.total_seconds() // 3600)
    if platform.db.is_sqlite:
        data = f"{settings.data_dir.resolve()} (SQLite)"
    else:
        url = platform.db.engine.url
        data = f"PostgreSQL {url.host}:{url.port or 5432}/{url.database}"
    if info.sample is not None:
        sample = f"project {info.sample[0]!r} with {info.sample[1]} flows from examples/"
    elif info.first_start:
        sample = "none (--no-sample, or no examples/ here)"
    else:
        sample = None
    editor = (
        "served at /"
        if editor_dist is not None
        else "not built: cd editor && npm ci && npm run build"
    )
    router = (
        f"{router_url(platform)}/… (or http://{_display(settings.host)}:{settings.router_port}"
        "/p/{project}/{stage}/…)"
        if settings.router_port
        else "off (--router-port 0)"
    )
    if not router_here:
        router = f"{router_url(platform)}/… from `plait router`, a process of its own"
    demo = None
    if info.demo:
        demo = (
            f"{router_url(platform, DEMO_SLUG, DEMO_STAGE)}/hello/Ada"
            f" (project {DEMO_SLUG!r}, published on {DEMO_STAGE!r})"
        )
    rows = [
        ("API docs", f"{base}/api/docs"),
        ("Editor", editor),
        ("Workspace", info.workspace + (" (created now)" if info.first_start else "")),
        ("Sample", sample),
        ("Data", data),
        ("Router", router),
        ("Try", demo if settings.router_port else None),
    ]
    lines = [
        "",
        f"  Plait {'' if router_here else 'API '}{__version__} is running at {base}",
        "",
        f"  Log in with this one-time link (valid {hours} hours, for the workspace owner):",
        "",
        f"    {info.login_url}",
        "",
        *(f"  {label:<10} {value}" for label, value in rows if value is not None),
        "",
        "  Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines) + "\n"


# -- the server ----------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), so a busy port is one clear error, not a log dump."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}; check --host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"cannot listen on {host}:{port}: the port is in use (is another"
                " `plait serve` running?); stop it or pick another port with --port"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class PlaitServer(uvicorn.Server):
    """uvicorn's server with two rules of ours.

    * A stop asked for by SIGTERM or SIGINT is a clean exit (0). uvicorn re-raises the
      signal once it has shut down, which would end the process *by* the signal.
    * The stop is bounded: if it takes over ``HARD_SHUTDOWN_S`` the process exits 1.
    * Its ``companions`` (the router's server, in the same event loop) stop with it: the
      signal handlers are this server's alone.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.companions: list[uvicorn.Server] = []

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            watchdog = threading.Timer(HARD_SHUTDOWN_S, _stop_now)
            watchdog.daemon = True
            watchdog.start()
        for companion in self.companions:
            companion.handle_exit(sig, frame)
        super().handle_exit(sig, frame)


class CompanionServer(uvicorn.Server):
    """A server that leaves the process's signals to the main one, which stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_now() -> None:
    sys.stderr.write(f"error: the server did not stop within {HARD_SHUTDOWN_S} s; exiting now\n")
    sys.stderr.flush()
    os._exit(EXIT_FAILED)


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with Plait's own loggers on the same handler."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["plait"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


@dataclass(frozen=True)
class ServeOptions:
    sample: bool = True
    # The scheduler task (scheduling.scheduler), in `plait serve` only; off when a
    # `plait scheduler` process of its own fires the schedules.
    scheduler: bool = True
    log_level: str = "info"
    access_log: bool = False


def _config(app: Any, options: ServeOptions, *, lifespan: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan=lifespan,
        log_level=options.log_level,
        log_config=_log_config(options.log_level),
        access_log=options.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    # uvicorn calls sys.exit when the app's start-up fails (it logged why).
    with contextlib.suppress(SystemExit):
        await server.serve(sockets=[sock])


def _start_scheduler(platform: Platform, server: uvicorn.Server) -> asyncio.Future[None] | None:
    """The scheduler task, handing its runs to the dispatcher the lifespan started; it
    stops as soon as the server is asked to (before the dispatcher stops)."""
    if not server.started:
        return None
    from .scheduling.clock import clock_from_env
    from .scheduling.scheduler import Scheduler

    async def dispatch(run_id: str) -> None:
        dispatcher = platform.dispatcher
        if dispatcher is None:  # stopping: the run stays queued for the next start
            raise RuntimeError("the server is stopping")
        await dispatcher.dispatch(run_id)

    try:
        clock = clock_from_env()
    except ValueError as exc:
        log.error("the scheduler is off: %s", exc)
        return None
    scheduler = Scheduler(platform, dispatch, clock=clock)

    async def watch() -> None:
        while not server.should_exit:
            await asyncio.sleep(0.05)
        scheduler.stop()

    async def run() -> None:
        watcher = asyncio.ensure_future(watch())
        try:
            await scheduler.run()
        finally:
            watcher.cancel()

    return asyncio.ensure_future(run())


def serve(platform: Platform, options: ServeOptions, out: TextIO) -> int:
    """Run the server until SIGTERM or Ctrl-C; return the exit code.

    The database must be migrated. ``ServeError`` when it cannot listen.
    """
    settings = platform.settings
    sock = bind_socket(settings.host, settings.port)
    router_sock = None
    try:
        if settings.router_port:
            router_sock = bind_socket(settings.host, settings.router_port)
        info = prepare(platform, sample=options.sample)
        editor_dist = find_editor_dist()
        # lifespan "on": a failing start-up stops the server instead of being ignored.
        config = _config(build_app(platform, editor_dist), options, lifespan="on")
        server = PlaitServer(config)
        router = None
        if router_sock is not None:
            # The API's lifespan starts the dispatcher the router's runs execute on.
            app = create_platform_router(platform, lifespan=False)
            router = CompanionServer(_config(app, options, lifespan="off"))
            server.companions.append(router)

        async def main() -> None:
            task = asyncio.ensure_future(_serve(server, sock))
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            router_task = None
            if server.started and router is not None and router_sock is not None:
                router_task = asyncio.ensure_future(_serve(router, router_sock))
                while not router.started and not router_task.done():
                    await asyncio.sleep(0.01)
            if server.started:
                out.write(banner(platform, info, editor_dist))
                out.flush()
            scheduling = _start_scheduler(platform, server) if options.scheduler else None
            await task
            if scheduling is not None:
                await scheduling
            if router_task is not None:
                if router is not None:
                    router.should_exit = True
                await router_task

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        sock.close()
        if router_sock is not None:
            router_sock.close()
        platform.db.dispose()
    if not server.started:
        sys.stderr.write("error: the server did not start; the log above says why\n")
        return EXIT_FAILED
    return EXIT_OK


def serve_router(platform: Platform, options: ServeOptions, out: TextIO) -> int:
    """``plait router``: the router alone on ``settings.router_port``, with its own run
    dispatcher, until SIGTERM or Ctrl-C; return the exit code.

    The database must be migrated. ``ServeError`` when it cannot listen.
    """
    settings = platform.settings
    sock = bind_socket(settings.host, settings.router_port)
    try:
        app = create_platform_router(platform, lifespan=True)
        config = _config(app, options, lifespan="on")
        server = PlaitServer(config)

        async def main() -> None:
            task = asyncio.ensure_future(_serve(server, sock))
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            if server.started:
                host = _display(settings.host)
                out.write(
                    f"\n  Plait router {__version__} is running at {router_url(platform)}/…\n"
                    f"  (or http://{host}:{settings.router_port}/p/{{project}}/{{stage}}/…)\n"
                    "\n  Press Ctrl-C to stop.\n\n"
                )
                out.flush()
            await task

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        sock.close()
        platform.db.dispose()
    if not server.started:
        sys.stderr.write("error: the router did not start; the log above says why\n")
        return EXIT_FAILED
    return EXIT_OK


def serve_api(platform: Platform, options: ServeOptions, out: TextIO) -> int:
    """``plait api``: the control plane alone — the API and the editor on ``settings.port``,
    no router and no scheduler — until SIGTERM or Ctrl-C; return the exit code.

    Like ``serve`` it makes the first workspace (and the sample and demo projects) on a
    first start and prints a login link. The runs it accepts go to the dispatcher the
    settings choose: with ``PLAIT_QUEUE=bullmq`` they are only enqueued, for ``plait
    worker``. The database must be migrated. ``ServeError`` when it cannot listen.
    """
    settings = platform.settings
    sock = bind_socket(settings.host, settings.port)
    try:
        info = prepare(platform, sample=options.sample)
        editor_dist = find_editor_dist()
        config = _config(build_app(platform, editor_dist), options, lifespan="on")
        server = PlaitServer(config)

        async def main() -> None:
            task = asyncio.ensure_future(_serve(server, sock))
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            if server.started:
                out.write(banner(platform, info, editor_dist, router_here=False))
                out.flush()
            await task

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        sock.close()
        platform.db.dispose()
    if not server.started:
        sys.stderr.write("error: the API did not start; the log above says why\n")
        return EXIT_FAILED
    return EXIT_OK
