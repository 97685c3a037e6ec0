"""The ``plait`` command line: check, compile, run and resume flows on your own machine.

This is the composition root's offline face. It reads a flow file, validates it against
the node registry (every installed node package), compiles it into a bundle and runs
the bundle with the engine, keeping large values under ``PLAIT_DATA_DIR`` (default
``./.plait``) and, on request, the run's events in a JSON-lines file it can resume from.

Exit codes, for scripts:

* ``0`` — the flow is valid / compiled / the run succeeded;
* ``1`` — ``validate`` found errors, or the run failed, timed out or was cancelled;
* ``2`` — a usage error: a missing or unreadable file, bad JSON, an invalid flow given
  to ``compile``/``run``, bad ``--input``, an unknown trigger;
* ``130`` — interrupted with Ctrl-C.

User errors are one ``error: …`` line on stderr (an invalid flow adds one line per
problem), never a traceback. Only ``typer`` and ``rich`` are imported at start-up; the
engine and the node library load inside the commands that need them, so ``plait --help``
stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
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
    """Plait: validate, compile and run workflow files on your own machine.

    A flow is a JSON document of nodes and edges (ARCHITECTURE.md §3; the CLI
    reference is docs/cli.md). Try:

        plait run examples/hello.json --input '{"name": "Ada"}'
        plait nodes
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


def main() -> None:
    """The ``plait`` console script."""
    app(prog_name="plait")


if __name__ == "__main__":
    main()
