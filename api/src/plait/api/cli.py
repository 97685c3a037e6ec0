"""The ``plait`` command line: flows on your own machine, the platform, a running server.

Three groups of verbs, one program (the reference is ``docs/cli.md``):

* **Flow files, offline** — ``validate``, ``compile``, ``run``, ``resume``, ``nodes``: read
  a flow file, validate it against the node registry (every installed node package),
  compile it into a bundle and run it with the engine, keeping large values under
  ``PLAIT_DATA_DIR`` (default ``./.plait``) and, on request, the run's events in a
  JSON-lines file it can resume from.
* **The platform, on its database** — ``serve`` (``serve.py``; or its parts as separate
  processes: ``api``, ``router``, …), ``migrate``, ``admin create-token``,
  ``export`` and ``import`` (``portability.py``): read the ``PLAIT_*`` settings and
  migrate the database before they touch it.
* **A running server** — ``login``, ``logout``, ``projects list``, ``flows list``,
  ``runs show``: the REST API with an API token (``client.py``).

Exit codes, for scripts:

* ``0`` — the flow is valid / compiled / the run succeeded; the verb did what it said;
* ``1`` — ``validate`` found errors, or the run failed, timed out or was cancelled; the
  database, the port or the server said no (unreachable, 401, 404);
* ``2`` — a usage error: a missing or unreadable file, bad JSON, an invalid flow given
  to ``compile``/``run``, bad ``--input``, an unknown trigger, a bad setting, a bad
  export, not logged in;
* ``130`` — interrupted with Ctrl-C.

User errors are one ``error: …`` line on stderr (an invalid flow adds one line per
problem), never a traceback. Only ``typer`` and ``rich`` are imported at start-up; the
engine, the node library, the database, the server and the HTTP client load inside the
commands that need them, so ``plait --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__

if TYPE_CHECKING:
    import asyncio

    from plait.node_runner.compiler import Bundle
    from plait.node_runner.engine import Executor, RunResult
    from plait.node_runner.events import InMemoryEventStore, JsonlEventStore
    from plait.node_runner.flow import Flow
    from plait.node_runner.registry import NodeRegistry
    from plait.node_runner.validation import Problem

    from .client import PlaitClient
    from .platform import Platform
    from .settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

DATA_DIR_ENV = "PLAIT_DATA_DIR"
DEFAULT_DATA_DIR = ".plait"

# The readable summary cuts long output values; --json always prints them whole.
MAX_SUMMARY_VALUE_CHARS = 2000

app = typer.Typer(
    name="plait",
    no_args_is_help=True,
    add_completion=False,
    # Bugs should show a plain traceback; user errors never reach one (see _fail).
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


# -- small helpers ---------------------------------------------------------------------


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: message`` on stderr and exit; ``message`` should say what to do."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _console(*, stderr: bool) -> Console:
    # soft_wrap: never break or crop a line at the terminal width, so lines stay greppable.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def data_dir() -> Path:
    """Where local runs keep their files: ``$PLAIT_DATA_DIR``, else ``./.plait``."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _read_json_file(path: Path, what: str) -> Any:
    """The parsed JSON in ``path``; a one-line usage error when it cannot be had."""
    from plait.node_runner.errors import FlowError
    from plait.node_runner.flow import parse_json

    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        _fail(f"no such file: {path} (check the path and the current directory)")
    except IsADirectoryError:
        _fail(f"{path} is a directory; give the path of a {what} file")
    except PermissionError:
        _fail(f"cannot read {path}: permission denied (check the file's permissions)")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        document = parse_json(data, what=str(path))
    except FlowError as exc:
        _fail(f"{exc}; fix it and try again")
    _check_unicode(document, str(path))
    return document


def _check_unicode(value: Any, what: str) -> None:
    """Refuse a lone surrogate (``"\\ud800"``): JSON can spell one, UTF-8 cannot hold it.

    The engine writes flows, bundles and events as UTF-8 and would fail deep inside a
    compile or a run on such a string; the CLI says so up front, and where it is.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        texts: list[str] = []
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(item))
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                where = f" at {path}" if path else ""
                _fail(
                    f"{what} holds a lone surrogate ({ascii(text[exc.start])[1:-1]}){where},"
                    " which is not valid Unicode text; remove it"
                )


def _registry() -> NodeRegistry:
    """Every node type the installed packages register (entry point ``plait.nodes``)."""
    from plait.node_runner.registry import NodeRegistry, RegistryError

    try:
        return NodeRegistry.discover()
    except (RegistryError, ImportError) as exc:
        _fail(f"cannot load the installed nodes: {exc} (reinstall with `make setup`)")


def _where(problem: Problem) -> str:
    """Where a problem is, for people: ``node greet (params.template)``, ``edge e1``."""
    if problem.edge_id is not None:
        place = f"edge {problem.edge_id}"
    elif problem.node_id is not None:
        place = f"node {problem.node_id}"
    else:
        place = "flow"
    return f"{place} ({problem.field})" if problem.field else place


def _load_valid_flow(path: Path) -> tuple[Flow, NodeRegistry]:
    """The flow in ``path`` and the registry it was checked against; exit 2 if invalid.

    Warnings (an unreachable node) are printed and do not stop anything.
    """
    from plait.node_runner.errors import FlowError
    from plait.node_runner.flow import load_flow
    from plait.node_runner.validation import validate

    document = _read_json_file(path, "flow")
    registry = _registry()
    # Validating the parsed document, not a Flow, turns schema errors into located
    # problems too, rather than one pydantic message.
    problems = validate(document, registry)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        lines = [
            f"error: {path} is not a valid flow ({_plural(len(errors), 'error')});"
            f" fix {'it' if len(errors) == 1 else 'them'} and try again:"
        ]
        # Messages name their node or edge already; the code is for searching the docs.
        lines += [f"  {p.message} [{p.code}]" for p in errors]
        typer.echo("\n".join(lines), err=True)
        raise typer.Exit(EXIT_USAGE)
    for p in problems:
        typer.echo(f"warning: {p.message} [{p.code}]", err=True)
    try:
        return load_flow(document), registry
    except FlowError as exc:  # validate() accepted it, so this would be an engine bug
        _fail(str(exc))


def _build_bundle(flow: Flow, registry: NodeRegistry) -> Bundle:
    from plait.node_runner.compiler import build_bundle

    return build_bundle(flow, registry)  # the flow is validated already


# -- the app -----------------------------------------------------------------------------


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"plait {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Show Plait's version and exit.",
        ),
    ] = False,
) -> None:
    """Plait: run workflow files on your own machine, or serve the whole platform.

    On files: validate, compile, run, resume, nodes. The platform: serve (or api,
    router, ... as separate processes), migrate, admin, export, import (on the
    database, no server needed). A running server: login,
    projects, flows, runs. A flow is a JSON document of nodes and edges
    (ARCHITECTURE.md §3); the reference is docs/cli.md. Try:

        plait run examples/hello.json --input '{"name": "Ada"}'
        plait serve
    """


FlowFile = Annotated[
    Path,
    typer.Argument(
        metavar="FILE",
        help="A flow document (JSON, ARCHITECTURE.md §3).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


# -- validate ----------------------------------------------------------------------------


@app.command("validate")
def validate_command(file: FlowFile, as_json: JsonFlag = False) -> None:
    """Check a flow and list every problem, with where it is.

    Exits 1 when any problem is an error, 0 when there are none or only warnings
    (an unreachable node, say), 2 when the file cannot be read or is not JSON.

    Examples:

        plait validate examples/hello.json
        plait validate my_flow.json --json | jq '.[] | select(.severity == "error")'
    """
    from plait.node_runner.validation import has_errors, validate

    document = _read_json_file(file, "flow")
    problems = validate(document, _registry())
    if as_json:
        sys.stdout.write(json.dumps([p.model_dump() for p in problems], indent=2) + "\n")
    elif not problems:
        _console(stderr=False).print(Text(f"✓ {file} is a valid flow", style="green"))
    else:
        table = Table(title=f"{file}: {_plural(len(problems), 'problem')}", title_justify="left")
        table.add_column("severity")
        table.add_column("code")
        table.add_column("where")
        table.add_column("message", overflow="fold")
        for p in problems:
            style = "red" if p.severity == "error" else "yellow"
            table.add_row(Text(p.severity, style=style), p.code, _where(p), Text(p.message))
        _console(stderr=False).print(table)
    raise typer.Exit(EXIT_FAILED if has_errors(problems) else EXIT_OK)


# -- compile -----------------------------------------------------------------------------


@app.command("compile")
def compile_command(
    file: FlowFile,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="OUT",
            help="Bundle directory to write (a zip file with --zip).",
            show_default=False,
        ),
    ],
    as_zip: Annotated[
        bool, typer.Option("--zip", help="Write one deterministic zip file instead.")
    ] = False,
) -> None:
    """Compile a flow into a content-addressed bundle; print the bundle id last.

    The bundle is flow.json, flow.py and manifest.json. The same flow always compiles
    to the same bytes and the same id, the SHA-256 of its manifest, which is the last
    line on stdout.

    Examples:

        plait compile examples/hello.json -o build/hello
        plait compile examples/hello.json -o build/hello.zip --zip
    """
    flow, registry = _load_valid_flow(file)
    bundle = _build_bundle(flow, registry)
    if as_zip and out.is_dir():
        _fail(f"{out} is a directory; give a file name for the zip, e.g. {out / 'bundle.zip'}")
    if not as_zip and out.exists() and not out.is_dir():
        _fail(f"{out} exists and is not a directory; pass --zip to write a zip file")
    try:
        if as_zip:
            bundle.write_zip(out)
        else:
            bundle.write_dir(out)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    typer.echo(f"compiled {flow.name!r} ({_plural(len(flow.nodes), 'node')}) into {out}", err=True)
    typer.echo(bundle.id)  # last line on stdout, for scripts: id=$(plait compile … | tail -1)


# -- run and resume ----------------------------------------------------------------------


def _read_payload(input_json: str | None, input_file: Path | None) -> Any:
    from plait.node_runner.errors import FlowError
    from plait.node_runner.flow import parse_json

    if input_json is not None and input_file is not None:
        _fail("give the run's input with --input or with --input-file, not both")
    if input_file is not None:
        return _read_json_file(input_file, "input")
    if input_json is None:
        return None
    try:
        payload = parse_json(input_json, what="--input")
    except FlowError as exc:
        _fail(f'{exc}; quote it for your shell, e.g. --input \'{{"name": "Ada"}}\'')
    _check_unicode(payload, "--input")
    return payload


def _check_trigger(flow: Flow, registry: NodeRegistry, trigger: str | None) -> None:
    """Refuse an unknown or missing ``--trigger`` before anything runs, naming the triggers.

    The engine makes the same choice (the named trigger, else the only one, else the
    ``trigger.manual`` one); checking here gives a message that says what to type.
    """
    triggers = [
        node
        for node in flow.nodes
        if (cls := registry.get(node.type, node.version)) is not None and cls.spec.trigger
    ]
    trigger_ids = [node.id for node in triggers]
    known = ", ".join(trigger_ids) or "none"
    if trigger is None:
        manual = [node for node in triggers if node.type == "trigger.manual"]
        if len(triggers) > 1 and len(manual) != 1:
            _fail(f"this flow has {len(triggers)} triggers ({known}); name one with --trigger")
        return
    named = flow.node(trigger)
    if named is None:
        _fail(f"unknown trigger {trigger!r}: no such node; this flow's triggers are: {known}")
    if trigger not in trigger_ids:
        _fail(f"{trigger!r} is a {named.type} node, not a trigger; the triggers are: {known}")


def _open_event_file(path: Path, *, must_exist: bool) -> JsonlEventStore:
    """A JSON-lines event store on ``path``, checked writable before the run starts."""
    from plait.node_runner.events import JsonlEventStore

    if must_exist and not path.is_file():
        _fail(f"no such events file: {path} (give the file `plait run --events` wrote)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass  # fail here, with a clear message, rather than at the first flush
    except IsADirectoryError:
        _fail(f"{path} is a directory; give a file name for the events, e.g. {path / 'run.jsonl'}")
    except OSError as exc:
        _fail(f"cannot write events to {path}: {exc.strerror or exc}")
    return JsonlEventStore(path)


def _make_executor(registry: NodeRegistry, store: InMemoryEventStore | JsonlEventStore) -> Executor:
    from plait.node_runner.blobs import FileBlobStore
    from plait.node_runner.engine import Executor

    return Executor(
        registry,
        store=store,
        blobs=FileBlobStore(data_dir() / "blobs"),
        # A local run acts for the user on their own machine (ARCHITECTURE.md §7), so
        # it may call services on localhost and the LAN. Servers allow that only when
        # PLAIT_ALLOW_PRIVATE_NETWORKS=1.
        allow_private_networks=True,
        # The CLI rendered this bundle a moment ago; rendering flow.py again to check
        # it would only repeat the compiler's work.
        verify_bundles=False,
    )


class _Interrupt:
    """Ctrl-C during a run: the first cancels the run cleanly, a second stops at once."""

    def __init__(self, executor: Executor, run_id: str) -> None:
        self.executor = executor
        self.run_id = run_id
        self.pressed = False
        self._installed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[Any] | None = None

    def install(self, task: asyncio.Future[Any]) -> bool:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._task = task
        try:
            self._loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            return False  # Windows, or not the main thread: Ctrl-C keeps its default
        self._installed = True
        return True

    def uninstall(self) -> None:
        if self._installed and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_signal_handler(signal.SIGINT)
        self._installed = False

    def _on_sigint(self) -> None:
        self.pressed = True
        # Hand SIGINT back to Python's default, so a second Ctrl-C raises
        # KeyboardInterrupt (caught by the command) instead of waiting for the run.
        self.uninstall()
        typer.echo("cancelling the run (press Ctrl-C again to stop at once)", err=True)
        self._cancel()

    def _cancel(self) -> None:
        # The run registers with the executor only once its plan is loaded; until then
        # there is nothing to cancel, so try again shortly.
        if self.executor.cancel(self.run_id):
            return
        if self._loop is not None and self._task is not None and not self._task.done():
            self._loop.call_later(0.01, self._cancel)


async def _drive(
    executor: Executor,
    bundle: Bundle,
    interrupt: _Interrupt,
    *,
    payload: Any,
    trigger: str | None,
    resume: bool,
) -> RunResult:
    import asyncio

    run_id = interrupt.run_id
    if resume:
        task = asyncio.ensure_future(executor.resume(bundle, run_id))
    else:
        task = asyncio.ensure_future(executor.run(bundle, payload, run_id=run_id, trigger=trigger))
    interrupt.install(task)
    try:
        return await task
    finally:
        interrupt.uninstall()


def _execute(
    file: Path,
    flow: Flow,
    registry: NodeRegistry,
    store: InMemoryEventStore | JsonlEventStore,
    *,
    run_id: str,
    payload: Any = None,
    trigger: str | None = None,
    resume: bool = False,
    events: Path | None,
    as_json: bool,
    quiet: bool,
) -> NoReturn:
    """Run (or resume) ``flow``, print the outcome and exit with the run's exit code."""
    import asyncio

    from plait.node_runner.engine import RunError
    from plait.node_runner.state import InvalidTransition

    from ._progress import RunProgress

    bundle = _build_bundle(flow, registry)
    executor = _make_executor(registry, store)
    if not quiet:
        err = _console(stderr=True)
        store.listeners.append(RunProgress(err, flow, fancy=err.is_terminal))
    interrupt = _Interrupt(executor, run_id)
    coro = _drive(executor, bundle, interrupt, payload=payload, trigger=trigger, resume=resume)
    try:
        result = asyncio.run(coro)
    except RunError as exc:
        _fail(f"{exc}; see `plait {'resume' if resume else 'run'} --help`")
    except InvalidTransition as exc:  # only a damaged or hand-edited events file does this
        _fail(f"the events of run {run_id} in {events} do not add up ({exc}); cannot resume it")
    except KeyboardInterrupt:
        where = (
            f"; resume it with: plait resume {file} --events {events} --run-id {run_id}"
            if events is not None
            else ""
        )
        typer.echo(f"error: interrupted; run {run_id} did not finish{where}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None

    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        _print_summary(result, events=events)
    if result.succeeded:
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_INTERRUPTED if interrupt.pressed else EXIT_FAILED)


def _print_summary(result: RunResult, *, events: Path | None) -> None:
    """The run's outcome and its outputs, for people (``--json`` is for programs)."""
    from ._progress import format_duration, short_message

    out = _console(stderr=False)
    state = result.state
    counts: dict[str, int] = {}
    for record in state.nodes.values():
        counts[str(record.status)] = counts.get(str(record.status), 0) + 1
    tally = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
    took = ""
    if state.started_at is not None and state.finished_at is not None:
        took = f" in {format_duration(state.finished_at - state.started_at)}"
    status = str(result.status).replace("_", " ")
    style = "bold green" if result.succeeded else "bold red"
    line = Text()
    line.append(f"Run {result.run_id} {status}{took}", style=style)
    line.append(f" ({_plural(len(state.nodes), 'node')}: {tally})")
    out.print(line)
    # A cancelled run's "error" only says it was cancelled: the status line said that.
    if result.error and str(result.status) != "cancelled":
        error = result.error
        node = f"node {error['node_id']}: " if error.get("node_id") else ""
        out.print(Text(f"  {node}{short_message(error)}", style="red"))
        hint = "  --json shows the whole error"
        if events is not None:
            hint += f"; the run's events are in {events}"
        out.print(Text(hint, style="dim"))
    outputs = result.outputs()
    if not outputs:
        return
    out.print(Text("Outputs", style="bold"))
    for node_id, ports in outputs.items():
        for port, value in ports.items():
            text = value if isinstance(value, str) else json.dumps(value, indent=2)
            if len(text) > MAX_SUMMARY_VALUE_CHARS:
                text = (
                    f"{text[:MAX_SUMMARY_VALUE_CHARS]}… ({len(text) - MAX_SUMMARY_VALUE_CHARS}"
                    " more characters; --json prints it all)"
                )
            label = Text(f"  {node_id}.{port}:", style="cyan")
            if "\n" in text:
                out.print(label)
                out.print(Text("    " + text.replace("\n", "\n    ")))
            else:
                out.print(label + Text(f" {text}"))


InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        metavar="JSON",
        help="The run's input (the trigger's payload), as JSON.",
        show_default=False,
    ),
]
InputFileOption = Annotated[
    Path | None,
    typer.Option(
        "--input-file",
        metavar="PATH",
        help="Read the run's input from a JSON file ('-' for stdin).",
        show_default=False,
    ),
]
QuietFlag = Annotated[bool, typer.Option("--quiet", "-q", help="No live progress on stderr.")]


@app.command("run")
def run_command(
    file: FlowFile,
    input_json: InputOption = None,
    input_file: InputFileOption = None,
    trigger: Annotated[
        str | None,
        typer.Option(
            "--trigger",
            "-t",
            metavar="NODE_ID",
            help="The trigger node that fires (default: the only trigger, or trigger.manual).",
            show_default=False,
        ),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            metavar="FILE.jsonl",
            help="Append the run's events to this file, so the run can be resumed.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Validate, compile and run a flow here, showing each node as it runs.

    Progress goes to stderr; the outcome and outputs to stdout (with --json:
    run_id, status, error, outputs and per-node status and attempts). Exits 0 when the
    run succeeded, 1 when it failed, timed out or was cancelled, 2 on a usage error,
    130 on Ctrl-C (the first Ctrl-C cancels the run cleanly). Large values go to
    $PLAIT_DATA_DIR/blobs (default ./.plait). A local run may call private and
    loopback addresses; a server never lets a flow do that.

    Examples:

        plait run examples/hello.json --input '{"name": "Ada"}'
        plait run examples/greet_webhook.json -i '{"path_params": {"name": "Ada"}}' --json
        plait run examples/merge.json --events runs.jsonl
    """
    payload = _read_payload(input_json, input_file)
    flow, registry = _load_valid_flow(file)
    _check_trigger(flow, registry, trigger)
    from plait.node_runner.events import InMemoryEventStore

    # Without --events nothing needs to outlive the process: events stay in memory.
    store = InMemoryEventStore() if events is None else _open_event_file(events, must_exist=False)
    _execute(
        file,
        flow,
        registry,
        store,
        run_id=uuid.uuid4().hex,
        payload=payload,
        trigger=trigger,
        events=events,
        as_json=as_json,
        quiet=quiet,
    )


def _pick_run(store: JsonlEventStore, events: Path, run_id: str | None) -> tuple[str, str | None]:
    """The run to resume and the bundle id it started with.

    By default the most recently started run of the file that has no terminal event.
    """
    from plait.node_runner import events as ev

    started: dict[str, tuple[float, str | None]] = {}
    finished: set[str] = set()
    for event in store.read_all():
        if event.type == ev.RUN_STARTED:
            started[event.run_id] = (event.ts, event.data.get("bundle_id"))
        elif event.type in ev.RUN_TERMINAL_EVENTS:
            finished.add(event.run_id)
    if not started:
        _fail(f"{events} holds no runs; start one with `plait run FILE --events {events}`")
    if run_id is not None:
        if run_id not in started:
            known = ", ".join(sorted(started)[:5])
            _fail(f"no run {run_id!r} in {events}; runs there include: {known}")
        return run_id, started[run_id][1]
    unfinished = [r for r in started if r not in finished]
    if not unfinished:
        _fail(
            f"every run in {events} has finished, so there is nothing to resume"
            " (pass --run-id ID to show one's result)"
        )
    chosen = max(unfinished, key=lambda r: started[r][0])
    return chosen, started[chosen][1]


@app.command("resume")
def resume_command(
    file: FlowFile,
    events: Annotated[
        Path,
        typer.Option(
            "--events",
            metavar="FILE.jsonl",
            help="The events file of the run (written by `plait run --events`).",
            show_default=False,
        ),
    ],
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            metavar="ID",
            help="The run to resume (default: the last unfinished run in the file).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Finish a run that stopped part-way (a crash, a kill, a reboot).

    The run's state is rebuilt from its events; nodes that succeeded are not run
    again, a node that was running starts over, and a delay goes on waiting for what
    was left of it. FILE must be the flow the run started with, and PLAIT_DATA_DIR the
    same, since large values live there. Output and exit codes are those of `plait run`.
    Given a finished run, it prints that run's result.

    Examples:

        plait resume examples/merge.json --events runs.jsonl
        plait resume examples/merge.json --events runs.jsonl --run-id 6f1c… --json
    """
    flow, registry = _load_valid_flow(file)
    store = _open_event_file(events, must_exist=True)
    chosen, started_bundle = _pick_run(store, events, run_id)
    bundle_id = _build_bundle(flow, registry).id
    if started_bundle is not None and started_bundle != bundle_id:
        _fail(
            f"{file} has changed since run {chosen} started (bundle {started_bundle[:12]},"
            f" now {bundle_id[:12]}); resume needs the flow the run started with"
        )
    if not quiet:
        typer.echo(f"resuming run {chosen}", err=True)
    _execute(
        file,
        flow,
        registry,
        store,
        run_id=chosen,
        resume=True,
        events=events,
        as_json=as_json,
        quiet=quiet,
    )


# -- nodes -------------------------------------------------------------------------------


def _port_list(ports: list[dict[str, Any]], *, mark_required: bool) -> str:
    """Ports one per line: ``name: type``, ``[]`` for a multi-edge input, ``*`` required."""
    parts = []
    for port in ports:
        suffix = "[]" if port.get("multi") else ""
        star = "*" if mark_required and port.get("required") else ""
        parts.append(f"{port['name']}{star}: {port['type']}{suffix}")
    return "\n".join(parts) or "-"


@app.command("nodes")
def nodes_command(as_json: JsonFlag = False) -> None:
    """List the node types you can use: the catalogue the editor draws from.

    With --json, print the catalogue document itself: every node type with its params
    as JSON Schema and its typed input and output ports.

    Examples:

        plait nodes
        plait nodes --json | jq '.nodes[].type'
    """
    catalogue = _registry().catalogue()
    if as_json:
        sys.stdout.write(json.dumps(catalogue, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(
        title=_plural(len(catalogue["nodes"]), "node type"),
        title_justify="left",
        box=box.SIMPLE_HEAD,  # light rules and no edge padding: it fits 80 columns
        pad_edge=False,
    )
    # Identifiers never wrap (people copy them into flows); prose columns fold instead.
    table.add_column("type", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("category", no_wrap=True)
    table.add_column("title", min_width=8)
    table.add_column("inputs", no_wrap=True)
    table.add_column("outputs", no_wrap=True)
    for entry in catalogue["nodes"]:
        outputs = _port_list(entry["outputs"], mark_required=False)
        dynamic = entry.get("dynamic_outputs")
        if dynamic:
            extra = ", ".join(dynamic.get("extra", []))
            outputs = f"one per {dynamic.get('from_param')}" + (f"\n{extra}" if extra else "")
        table.add_row(
            entry["type"],
            str(entry["version"]),
            entry["category"],
            entry["title"],
            _port_list(entry["inputs"], mark_required=True),
            outputs,
        )
    out = _console(stderr=False)
    out.print(table)
    out.print(
        Text(
            "* required input; [] takes many edges. With on_error: error_port a node also has"
            " an `error` output.",
            style="dim",
        )
    )


# == the platform: settings and the database ==============================================
#
# These verbs read the PLAIT_* settings (a bad one is exit 2 with one line) and bring the
# database to the latest migration before they touch it, so a fresh or older database
# always works.


def _settings(**overrides: Any) -> Settings:
    """The settings from PLAIT_* variables and the options given; exit 2 on a bad one."""
    from .settings import SettingsError, load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        # pydantic's "Value error, " prefix says nothing to someone fixing a variable.
        _fail(str(exc).replace("Value error, ", ""))


def _database_name(platform: Platform) -> str:
    url = platform.db.engine.url
    if platform.db.is_sqlite:
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _migrated(platform: Platform) -> Platform:
    """``platform`` with its database at the latest migration; exit 1 when it cannot be."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        platform.migrate()
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _fail(
            f"cannot open the database {_database_name(platform)}: {reason}"
            " (check PLAIT_DATABASE_URL and PLAIT_DATA_DIR)",
            EXIT_FAILED,
        )
    return platform


def _platform(**overrides: Any) -> Platform:
    """A platform on the configured database, migrated."""
    from .platform import Platform

    return _migrated(Platform(_settings(**overrides)))


# -- serve ---------------------------------------------------------------------------------


HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        metavar="HOST",
        help="Interface to listen on [default: PLAIT_HOST, else 127.0.0.1; 0.0.0.0 for all].",
        show_default=False,
    ),
]


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


LogLevelOption = Annotated[LogLevel, typer.Option("--log-level", help="How much to log.")]
AccessLogOption = Annotated[bool, typer.Option("--access-log", help="Log every HTTP request.")]
ApiPortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        "-p",
        min=1,
        max=65535,
        metavar="PORT",
        help="Port of the API and the editor [default: PLAIT_PORT, else 8000].",
        show_default=False,
    ),
]


@app.command("serve")
def serve_command(
    host: HostOption = None,
    port: ApiPortOption = None,
    router_port: Annotated[
        int | None,
        typer.Option(
            "--router-port",
            min=0,
            max=65535,
            metavar="PORT",
            help="Port of the router, which answers published routes [default:"
            " PLAIT_ROUTER_PORT, else 8080; 0 for none].",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        bool,
        typer.Option(
            "--sample/--no-sample",
            help="On the first start, make the project 'sample' from examples/.",
        ),
    ] = True,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler",
            help="Fire the schedules of published flows in this process; turn it off when"
            " a `plait scheduler` runs elsewhere (several may run; each firing happens once).",
        ),
    ] = True,
    log_level: LogLevelOption = LogLevel.info,
    access_log: AccessLogOption = False,
) -> None:
    """Start the platform: the API, the editor, the router, the scheduler and the run
    workers, in one process.

    The API and the editor listen on --port, the router (published webhook routes, on
    hosts {project}-{stage}.localhost or paths /p/{project}/{stage}/…) on --router-port.
    Migrates the database first. The first start makes a workspace, its owner, a sample
    project and the project 'demo' with GET /hello/{name} published on 'prod' (try
    curl http://demo-prod.localhost:8080/hello/Ada); every start prints a one-time login
    link for the owner. Settings
    come from PLAIT_* variables (docs/platform.md): by default a SQLite database and
    files under ./.plait. Stop it with Ctrl-C or SIGTERM: open requests may finish,
    then it exits 0.

    Examples:

        plait serve
        plait serve --host 0.0.0.0 --port 9000 --no-sample
        PLAIT_DATABASE_URL=postgresql://plait@db/plait plait serve
    """
    settings = _settings(host=host, port=port, router_port=router_port)
    if settings.router_port == settings.port:
        _fail(
            f"the router port and the API port are both {settings.port}; give another --router-port"
        )
    from .platform import Platform
    from .serve import ServeError, ServeOptions, serve

    platform = _migrated(Platform(settings))
    options = ServeOptions(
        sample=sample, scheduler=scheduler, log_level=log_level.value, access_log=access_log
    )
    try:
        code = serve(platform, options, sys.stdout)
    except ServeError as exc:
        _fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


@app.command("router")
def router_command(
    host: HostOption = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            min=1,
            max=65535,
            metavar="PORT",
            help="Port of the router [default: PLAIT_ROUTER_PORT, else 8080].",
            show_default=False,
        ),
    ] = None,
    log_level: LogLevelOption = LogLevel.info,
    access_log: AccessLogOption = False,
) -> None:
    """Start the router alone: published webhook routes become runs.

    A request on the host {project}-{stage}.<PLAIT_BASE_DOMAIN> (or on the path
    /p/{project}/{stage}/… with any other host) runs the flow published there; a sync
    route answers with the flow's http.respond. The router runs the runs itself (its own
    dispatcher) on the same settings and database as `plait serve`; with several
    processes, set PLAIT_REDIS_URL so that a publish reaches every router at once.

    Examples:

        plait router
        plait router --host 0.0.0.0 --port 9080
        PLAIT_DATABASE_URL=postgresql://plait@db/plait PLAIT_REDIS_URL=redis://redis plait router
    """
    settings = _settings(host=host, router_port=port)
    if not settings.router_port:
        _fail("the router needs a port; give --port PORT (or PLAIT_ROUTER_PORT)")
    from .platform import Platform
    from .serve import ServeError, ServeOptions, serve_router

    platform = _migrated(Platform(settings))
    options = ServeOptions(sample=False, log_level=log_level.value, access_log=access_log)
    try:
        code = serve_router(platform, options, sys.stdout)
    except ServeError as exc:
        _fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=256,
            metavar="N",
            help="Runs executed at once [default: PLAIT_RUN_WORKERS, else 8].",
            show_default=False,
        ),
    ] = None,
    log_level: LogLevelOption = LogLevel.info,
) -> None:
    """Execute runs from the queue (PLAIT_QUEUE=bullmq): the scaled shape's workers.

    Start as many as you like, on any machines that reach the same PostgreSQL
    (PLAIT_DATABASE_URL) and Redis (PLAIT_REDIS_URL). A run whose worker dies is
    resumed by another within PLAIT_QUEUE_LOCK_S + PLAIT_QUEUE_STALLED_INTERVAL_S. Prints
    one "ready" line once it fetches runs; SIGTERM (or Ctrl-C) stops it gracefully: runs
    at work get a grace period, the others are handed back to the queue at once.

    Examples:

        PLAIT_QUEUE=bullmq PLAIT_REDIS_URL=redis://redis:6379/0 \\
          PLAIT_DATABASE_URL=postgresql://plait@db/plait plait worker --concurrency 16
    """
    import logging

    settings = _settings(run_workers=concurrency)
    if settings.queue != "bullmq":
        _fail(
            "plait worker executes runs from the queue: set PLAIT_QUEUE=bullmq and"
            " PLAIT_REDIS_URL (plait serve runs runs itself when PLAIT_QUEUE=local)"
        )
    # Plait's own loggers at the level asked for; libraries' (alembic, bullmq) warnings.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("plait").setLevel(log_level.value.upper())
    from .platform import Platform
    from .runs.queue import run_worker

    platform = _migrated(Platform(settings))
    raise typer.Exit(run_worker(platform, concurrency=settings.run_workers, out=sys.stdout))


# -- api and migrate: the control plane of a scaled installation ---------------------------


def _revisions(platform: Platform) -> tuple[str | None, str]:
    """(the database's migration revision, None when it has none; the latest one)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from .db.migrate import alembic_config

    engine = platform.db.engine
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    try:
        if platform.db.is_sqlite:  # SQLite makes the file, not its folder
            platform.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _fail(
            f"cannot open the database {_database_name(platform)}: {reason}"
            " (check PLAIT_DATABASE_URL and PLAIT_DATA_DIR)",
            EXIT_FAILED,
        )
    return current, str(script.get_current_head())


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database to the latest migration, then exit.

    Safe to run again: an up-to-date database is left as it is. The other platform
    commands migrate on start too; run this once before starting several processes
    (`plait api`, `plait router`, `plait worker`, `plait scheduler`) on one new database,
    so they do not race to make it.

    Examples:

        plait migrate
        PLAIT_DATABASE_URL=postgresql://plait:plait@localhost/plait plait migrate
    """
    from .platform import Platform

    platform = Platform(_settings())
    try:
        before, _ = _revisions(platform)
        _migrated(platform)
        after, _ = _revisions(platform)
    finally:
        platform.db.dispose()
    name = _database_name(platform)
    if before == after:
        typer.echo(f"✓ {name} is up to date (revision {after})")
    else:
        typer.echo(f"✓ migrated {name} from {before or 'an empty database'} to revision {after}")


@app.command("api")
def api_command(
    host: HostOption = None,
    port: ApiPortOption = None,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate the database first; with --no-migrate, refuse an unmigrated one.",
        ),
    ] = True,
    sample: Annotated[
        bool,
        typer.Option(
            "--sample/--no-sample",
            help="On the first start, make the project 'sample' from examples/.",
        ),
    ] = True,
    log_level: LogLevelOption = LogLevel.info,
    access_log: AccessLogOption = False,
) -> None:
    """Start the control plane alone: the API and the editor, no router, no scheduler.

    The process a scaled installation runs beside `plait router`, `plait worker` and
    `plait scheduler` (docker-compose.yml, README "Scale out"). With PLAIT_QUEUE=bullmq the
    runs it accepts are only enqueued, for the workers. Migrates the database first unless
    --no-migrate; like `plait serve`, the first start makes a workspace, its owner and the
    sample projects, and every start prints a one-time login link for the owner. Stop it
    with Ctrl-C or SIGTERM: open requests may finish, then it exits 0.

    Examples:

        plait api
        plait api --host 0.0.0.0 --no-migrate
        PLAIT_DATABASE_URL=postgresql://plait@db/plait PLAIT_QUEUE=bullmq \\
            PLAIT_REDIS_URL=redis://redis:6379/0 plait api
    """
    settings = _settings(host=host, port=port)
    from .platform import Platform
    from .serve import ServeError, ServeOptions, serve_api

    platform = Platform(settings)
    if migrate:
        _migrated(platform)
    else:
        current, head = _revisions(platform)
        if current != head:
            state = f"at revision {current}" if current else "not migrated (empty)"
            _fail(
                f"the database {_database_name(platform)} is {state}, not at the latest"
                f" revision {head}; run `plait migrate` first, or start without --no-migrate",
                EXIT_FAILED,
            )
    options = ServeOptions(sample=sample, log_level=log_level.value, access_log=access_log)
    try:
        code = serve_api(platform, options, sys.stdout)
    except ServeError as exc:
        _fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


# -- scheduler -----------------------------------------------------------------------------


@app.command("scheduler")
def scheduler_command(log_level: LogLevelOption = LogLevel.info) -> None:
    """Fire the schedules of published flows: a process that only schedules.

    Every trigger.schedule node of a flow published on a stage starts a run at its cron
    times, read in its IANA time zone and compared in UTC (docs/scheduler.md). The runs go
    to the dispatcher the settings choose: with PLAIT_QUEUE=bullmq to the `plait worker`
    processes, with the local queue into this process. Several schedulers may run on one
    database: each firing happens exactly once. Start `plait serve --no-scheduler` (or
    `plait api`) beside it. Prints one "ready" line; SIGTERM or Ctrl-C stops it after the
    firing in progress, exit 0.

    Examples:

        plait scheduler
        PLAIT_QUEUE=bullmq PLAIT_REDIS_URL=redis://redis:6379/0 \\
          PLAIT_DATABASE_URL=postgresql://plait@db/plait plait scheduler
    """
    import logging

    settings = _settings()
    from .scheduling.clock import clock_from_env

    try:
        clock = clock_from_env()
    except ValueError as exc:
        _fail(str(exc))
    from .platform import Platform
    from .scheduling.scheduler import run_process

    platform = _migrated(Platform(settings))
    # Configured after migrating, so alembic's start-up chatter stays out of the log.
    logging.basicConfig(
        level=log_level.value.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    raise typer.Exit(run_process(platform, sys.stdout, clock=clock))


# -- admin ---------------------------------------------------------------------------------

admin_app = typer.Typer(
    name="admin",
    no_args_is_help=True,
    help="Administer the platform on its database directly; no server needs to run.",
)
app.add_typer(admin_app)


class Role(StrEnum):
    owner = "owner"
    editor = "editor"
    viewer = "viewer"


WORKSPACE_NAME_MAX_CHARS = 100  # the column's size


def _workspace_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > WORKSPACE_NAME_MAX_CHARS:
        _fail(f"a workspace name has 1 to {WORKSPACE_NAME_MAX_CHARS} characters")
    return name


@admin_app.command("create-token")
def create_token_command(
    workspace: Annotated[
        str,
        typer.Option(
            "--workspace",
            "-w",
            metavar="NAME",
            help="The workspace the token acts in; made when it does not exist.",
            show_default=False,
        ),
    ],
    role: Annotated[Role, typer.Option("--role", help="What the token may do.")] = Role.owner,
    name: Annotated[
        str,
        typer.Option("--name", metavar="LABEL", help="A label to recognise the token by."),
    ] = "plait admin",
) -> None:
    """Create an API token and print it, and only it, on stdout.

    Works on the database directly (PLAIT_DATABASE_URL, else the SQLite file under
    PLAIT_DATA_DIR), for automation and for a first setup without a browser. The token
    is shown once; only its hash is stored. Use it as 'Authorization: Bearer TOKEN' or
    with `plait login`.

    Examples:

        plait admin create-token --workspace acme
        TOKEN=$(plait admin create-token --workspace acme --role editor --name ci)
        plait login --server http://localhost:8000 --token "$TOKEN"
    """
    workspace = _workspace_name(workspace)
    platform = _platform()
    from sqlalchemy import select

    from .db.models import Workspace
    from .services.auth import get_or_create_workspace, issue_token

    with platform.db.session() as session:
        existed = session.scalar(select(Workspace.id).where(Workspace.name == workspace))
        ws = get_or_create_workspace(session, workspace)
        token, _ = issue_token(session, ws.id, role.value, kind="api", name=name)
    platform.db.dispose()
    made = "" if existed else " (workspace created)"
    typer.echo(
        f"created an API token with the {role.value} role in workspace {workspace!r}{made}",
        err=True,
    )
    sys.stdout.write(token + "\n")


# -- export and import ---------------------------------------------------------------------


@app.command("export")
def export_command(
    project: Annotated[
        str, typer.Argument(metavar="PROJECT", help="The project's slug.", show_default=False)
    ],
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Where to write it: a new or empty directory, or an earlier export.",
            show_default=False,
        ),
    ],
) -> None:
    """Write a project into a directory of canonical JSON files, for git.

    DIR gets project.json (name, slug, stages, the list of flows) and flows/ with one
    canonical flow document per flow, named after the flow. Exporting again into the
    same directory rewrites it to match the project (flows that are gone are removed);
    an unchanged project gives the same bytes. Secrets are never exported. Works on
    the database directly.

    Examples:

        plait export sample ./sample
        plait export shop ./flows/shop && git -C flows diff
    """
    platform = _platform()
    from .portability import PortabilityError, export_project

    try:
        with platform.db.session() as session:
            result = export_project(session, project, directory)
    except PortabilityError as exc:
        _fail(str(exc))
    finally:
        platform.db.dispose()
    removed = f"; removed {_plural(len(result.removed), 'stale file')}" if result.removed else ""
    typer.echo(
        f"exported project {result.project!r} ({_plural(len(result.files), 'flow')})"
        f" to {directory}{removed}",
        err=True,
    )


@app.command("import")
def import_command(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A directory written by `plait export`.", show_default=False
        ),
    ],
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            metavar="NAME",
            help="The workspace to import into (made when missing) [default: the first one].",
            show_default=False,
        ),
    ] = None,
    slug: Annotated[
        str | None,
        typer.Option(
            "--slug",
            metavar="SLUG",
            help="Import under this project slug instead of the exported one.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create or update a project from a directory written by `plait export`.

    The project is found by its slug (made, with its stages, when missing) and its flows
    by name: a flow that exists gets the exported document as its draft (a new revision
    when it differs), a new one is created, and flows the export does not name are left
    alone. All or nothing: a bad file changes nothing. Works on the database directly.

    Examples:

        plait import ./sample
        plait import ./flows/shop --workspace acme --slug shop-staging
    """
    from .platform import Platform
    from .portability import PortabilityError, import_project, read_export

    if workspace is not None:
        workspace = _workspace_name(workspace)
    settings = _settings()
    try:
        export = read_export(directory)  # before the database: a bad file changes nothing
    except PortabilityError as exc:
        _fail(str(exc))
    platform = _migrated(Platform(settings))
    try:
        with platform.db.session() as session:
            result = import_project(
                session,
                export,
                workspace=workspace,
                slug=slug,
                max_flow_bytes=platform.settings.max_flow_bytes,
            )
    except PortabilityError as exc:
        _fail(str(exc))
    finally:
        platform.db.dispose()
    flows = result.flows
    counts = ", ".join(
        f"{len(names)} {label}"
        for label, names in (
            ("created", flows.created),
            ("updated", flows.updated),
            ("unchanged", flows.unchanged),
        )
        if names
    )
    action = "created" if result.created else "updated"
    typer.echo(
        f"{action} project {result.project!r} in workspace {result.workspace!r}"
        f" (flows: {counts or 'none'})",
        err=True,
    )


# == a running server =======================================================================
#
# These verbs talk to a server over HTTP with an API token (plait login stores both).
# Exit codes: 1 when the server refuses or cannot be reached, 2 when not logged in.

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        envvar="PLAIT_SERVER",
        help="The server [default: the one of `plait login`].",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        envvar="PLAIT_TOKEN",
        help="An API token [default: the one of `plait login`].",
        show_default=False,
    ),
]


@contextmanager
def _server(server: str | None, token: str | None) -> Iterator[PlaitClient]:
    """A client for the chosen server; a ``ClientError`` becomes one ``error:`` line."""
    from .client import ClientError, PlaitClient, resolve

    try:
        credentials = resolve(server, token)
        with PlaitClient(credentials.server, credentials.token) as client:
            yield client
    except ClientError as exc:
        _fail(str(exc), exc.exit_code)


@app.command("login")
def login_command(
    server: Annotated[
        str,
        typer.Option(
            "--server",
            metavar="URL",
            envvar="PLAIT_SERVER",
            help="The server's URL, e.g. http://localhost:8000.",
            show_default=False,
        ),
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            envvar="PLAIT_TOKEN",
            help="An API token (from `plait admin create-token`) [default: asked for on a"
            " terminal, else read from stdin].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check an API token against a server and remember both for the other server verbs.

    They are stored in $PLAIT_CONFIG_DIR/credentials.json (default
    ~/.config/plait/credentials.json), readable only by you. `plait logout` forgets them.

    Examples:

        plait login --server http://localhost:8000 --token plt_…
        plait admin create-token --workspace default | plait login --server localhost:8000
    """
    from .client import ClientError, Credentials, normalize_server, save_credentials

    if token is None:
        # Asked for without echo on a terminal; a pipe (`… | plait login`) gives a line.
        token = (
            typer.prompt("API token", hide_input=True, err=True)
            if sys.stdin.isatty()
            else sys.stdin.readline()
        )
    token = token.strip()
    if not token:
        _fail("give an API token with --token (make one with `plait admin create-token`)")
    try:
        credentials = Credentials(normalize_server(server), token)
    except ClientError as exc:
        _fail(str(exc), exc.exit_code)
    with _server(credentials.server, credentials.token) as client:
        me = client.me()
    try:
        path = save_credentials(credentials)
    except OSError as exc:
        _fail(f"cannot save the credentials: {exc.strerror or exc}", EXIT_FAILED)
    who = me.get("email") or "an API token"
    typer.echo(
        f"logged in to {credentials.server} as {who}, {me.get('role')} of workspace"
        f" {me.get('workspace_name')!r}; credentials saved in {path}"
    )


@app.command("logout")
def logout_command() -> None:
    """Forget the server and token stored by `plait login`.

    The token itself stays valid on the server.

    Examples:

        plait logout
    """
    from .client import forget_credentials

    path = forget_credentials()
    typer.echo(f"removed {path}" if path else "not logged in; nothing to forget")


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def _listing_console() -> Console:
    """Where listings go: a terminal's width, or unbounded into a pipe, so that no line
    of ``plait flows list | grep …`` is ever wrapped or cut."""
    console = _console(stderr=False)
    if not console.is_terminal:
        console.width = 10_000
    return console


def _when(value: Any, *, seconds: bool = True) -> str:
    """A server timestamp for people: ``2025-01-31 12:00:07`` (or to the minute)."""
    if not isinstance(value, str):
        return "-"
    return value.replace("T", " ")[: 19 if seconds else 16]


projects_app = typer.Typer(
    name="projects", no_args_is_help=True, help="The projects of your workspace on a server."
)
flows_app = typer.Typer(name="flows", no_args_is_help=True, help="The flows on a server.")
runs_app = typer.Typer(name="runs", no_args_is_help=True, help="Runs on a server.")
for _sub in (projects_app, flows_app, runs_app):
    app.add_typer(_sub)


@projects_app.command("list")
def projects_list_command(
    as_json: JsonFlag = False, server: ServerOption = None, token: TokenOption = None
) -> None:
    """List the projects of your workspace.

    Examples:

        plait projects list
        plait projects list --json | jq -r '.[].slug'
    """
    with _server(server, token) as client:
        projects = client.projects()
    if as_json:
        _print_json(projects)
        return
    table = _table(_plural(len(projects), "project"))
    table.add_column("slug", no_wrap=True)
    table.add_column("name", min_width=12, overflow="fold")
    table.add_column("id", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for project in projects:
        table.add_row(
            str(project.get("slug", "")),
            Text(str(project.get("name", ""))),
            str(project.get("id", "")),
            _when(project.get("created_at"), seconds=False),
        )
    _listing_console().print(table)


@flows_app.command("list")
def flows_list_command(
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            metavar="SLUG",
            help="Only this project's flows [default: every project's].",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """List the flows of your workspace, or of one project.

    Examples:

        plait flows list
        plait flows list --project sample --json | jq -r '.[] | "\\(.id) \\(.name)"'
    """
    with _server(server, token) as client:
        projects = client.projects()
        if project is not None:
            projects = [p for p in projects if p.get("slug") == project]
            if not projects:
                _fail(
                    f"no project {project!r} in your workspace on {client.server};"
                    " `plait projects list` shows them",
                    EXIT_FAILED,
                )
        listed = [(p, f) for p in projects for f in client.project_flows(str(p["id"]))]
    if as_json:
        _print_json([flow for _, flow in listed])
        return
    table = _table(_plural(len(listed), "flow"))
    if project is None:
        table.add_column("project", no_wrap=True)
    table.add_column("name", min_width=12, overflow="fold")
    table.add_column("id", no_wrap=True)
    table.add_column("rev", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    for proj, flow in listed:
        cells: list[str | Text] = [str(proj.get("slug", ""))] if project is None else []
        cells += [
            Text(str(flow.get("name", ""))),
            str(flow.get("id", "")),
            str(flow.get("revision", "")),
            _when(flow.get("updated_at"), seconds=False),
        ]
        table.add_row(*cells)
    _listing_console().print(table)


@runs_app.command("show")
def runs_show_command(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The run's id.", show_default=False)
    ],
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Show a run: its status, error, result, and each node's status and attempts.

    With --json, print the server's whole answer (GET /api/runs/RUN_ID), with every
    node's outputs and error. Exits 0 whatever the run's status.

    Examples:

        plait runs show 3f9c2a…
        plait runs show 3f9c2a… --json | jq .status
    """
    with _server(server, token) as client:
        run = client.run(run_id)
    if as_json:
        _print_json(run)
        return
    _print_run(run)


# -- publishing ------------------------------------------------------------------------------

FlowIdArgument = Annotated[
    str, typer.Argument(metavar="FLOW_ID", help="The flow's id.", show_default=False)
]
StageOption = Annotated[
    str,
    typer.Option("--stage", "-s", metavar="STAGE", help="A stage of the flow's project."),
]


def _check_ids(flow_id: str | None = None, stage: str | None = None) -> None:
    """Usage errors for ids that could not be ones, before they reach a URL path."""
    import re

    if flow_id is not None and not re.fullmatch(r"[0-9a-f]{32}", flow_id):
        _fail(f"{flow_id!r} is not a flow id (32 hex digits; `plait flows list` shows them)")
    if stage is not None and not re.fullmatch(r"[a-z0-9]{1,20}", stage):
        _fail(f"{stage!r} is not a stage name (lowercase letters and digits)")


def _print_publication(publication: dict[str, Any], *, verb: str = "published") -> None:
    out = _listing_console()
    out.print(
        Text(
            f"{verb} {publication.get('flow_name')!r} version {publication.get('version')}"
            f" on {publication.get('stage')}",
            style="bold green",
        )
    )
    for route in publication.get("routes") or []:
        mode = " (async)" if route.get("mode") == "async" else ""
        out.print(Text(f"  {route.get('method'):<7} {route.get('url')}{mode}"))
    for schedule in publication.get("schedules") or []:
        out.print(Text(f"  cron    {schedule.get('cron')} ({schedule.get('timezone')})"))


@app.command("publish")
def publish_command(
    flow_id: FlowIdArgument,
    stage: StageOption = "prod",
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            "-v",
            min=1,
            metavar="N",
            help="The version to publish [default: cut a new one from the saved draft].",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Publish a flow on a stage of its project and print where its routes answer.

    Without --version, a new version is cut from the flow's saved draft first. A route
    that cannot be told apart from another flow's on the stage, or an invalid flow, is
    refused (exit 1) with the server's reason.

    Examples:

        plait publish 3f9c2a… --stage prod
        plait publish 3f9c2a… --stage dev --version 4
    """
    _check_ids(flow_id, stage)
    with _server(server, token) as client:
        publication = client.publish(flow_id, stage, version)
    if as_json:
        _print_json(publication)
        return
    _print_publication(publication)


@app.command("unpublish")
def unpublish_command(
    flow_id: FlowIdArgument,
    stage: Annotated[
        str,
        typer.Option("--stage", "-s", metavar="STAGE", help="The stage to take the flow off."),
    ],
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Take a flow off a stage: its routes stop answering and its schedules stop.

    Examples:

        plait unpublish 3f9c2a… --stage dev
    """
    _check_ids(flow_id, stage)
    with _server(server, token) as client:
        client.unpublish(flow_id, stage)
    typer.echo(f"unpublished flow {flow_id} from {stage}")


@app.command("publications")
def publications_command(
    project: Annotated[
        str, typer.Argument(metavar="PROJECT_SLUG", help="The project's slug.", show_default=False)
    ],
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            "-s",
            metavar="STAGE",
            help="Show this stage's whole history, newest first [default: what every stage"
            " serves now].",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """List what a project's stages serve: flow, version and route URLs.

    Examples:

        plait publications shop
        plait publications shop --stage prod --json | jq '.[0].version'
    """
    _check_ids(stage=stage)
    with _server(server, token) as client:
        found = [p for p in client.projects() if p.get("slug") == project]
        if not found:
            _fail(
                f"no project {project!r} in your workspace on {client.server};"
                " `plait projects list` shows them",
                EXIT_FAILED,
            )
        project_id = str(found[0]["id"])
        rows = (
            client.publications(project_id)
            if stage is None
            else client.stage_history(project_id, stage)
        )
    if as_json:
        _print_json(rows)
        return
    table = _table(_plural(len(rows), "publication"))
    for column in ("stage", "flow", "version", "published", "routes"):
        table.add_column(column, no_wrap=column != "routes", overflow="fold")
    if stage is not None:
        table.add_column("active", no_wrap=True)
    for row in rows:
        routes = "\n".join(f"{r.get('method')} {r.get('url')}" for r in row.get("routes") or [])
        cells: list[str | Text] = [
            str(row.get("stage", "")),
            Text(str(row.get("flow_name", ""))),
            str(row.get("version", "")),
            _when(row.get("published_at"), seconds=False),
            Text(routes or "-"),
        ]
        if stage is not None:
            cells.append("yes" if row.get("active") else "")
        table.add_row(*cells)
    _listing_console().print(table)


def _took(item: dict[str, Any]) -> str:
    """How long a run or node took, from its ``started_at`` and ``finished_at``."""
    from datetime import datetime

    from ._progress import format_duration

    try:
        started = datetime.fromisoformat(str(item["started_at"]))
        finished = datetime.fromisoformat(str(item["finished_at"]))
    except (KeyError, TypeError, ValueError):
        return ""
    return format_duration(max(0.0, (finished - started).total_seconds()))


def _print_run(run: dict[str, Any]) -> None:
    """A run of ``GET /api/runs/{id}``, for people (``--json`` is for programs)."""
    from ._progress import short_message

    out = _listing_console()
    status = str(run.get("status", "unknown"))
    style = {"succeeded": "bold green", "queued": "bold", "running": "bold"}.get(status, "bold red")
    took = _took(run)
    out.print(
        Text(f"Run {run.get('id')} {status.replace('_', ' ')}", style=style)
        + Text(f" in {took}" if took else "")
    )
    version = run.get("version")
    facts = [
        ("flow", run.get("flow_id")),
        ("version", "draft" if version is None else version),
        ("kind", run.get("kind")),
        ("trigger", run.get("trigger")),
        ("created", _when(run.get("created_at"))),
    ]
    for label, value in facts:
        if value not in (None, "", "-"):
            out.print(Text(f"  {label:<8} {value}"))
    error = run.get("error")
    # A cancelled run's "error" only says it was cancelled: the status line said that.
    if isinstance(error, dict) and status != "cancelled":
        where = f"node {error['node_id']}: " if error.get("node_id") else ""
        out.print(Text(f"  error    {where}{short_message(error)}", style="red"))
    nodes = run.get("nodes")
    if isinstance(nodes, dict) and nodes:
        table = _table("Nodes")
        for column in ("node", "status", "attempts", "took", "error"):
            table.add_column(column, no_wrap=column != "error")
        for node_id, state in nodes.items():
            state = state if isinstance(state, dict) else {}
            node_error = state.get("error")
            table.add_row(
                str(node_id),
                str(state.get("status", "")),
                str(state.get("attempts", "")),
                _took(state),
                Text(short_message(node_error) if isinstance(node_error, dict) else ""),
            )
        out.print(table)
    if run.get("result") is not None:
        text = json.dumps(run["result"], indent=2, ensure_ascii=False)
        if len(text) > MAX_SUMMARY_VALUE_CHARS:
            text = text[:MAX_SUMMARY_VALUE_CHARS] + "… (--json prints it all)"
        out.print(Text("Result", style="bold"))
        out.print(Text("  " + text.replace("\n", "\n  ")))


def main() -> None:
    """The ``plait`` console script."""
    app(prog_name="plait")


if __name__ == "__main__":
    main()
