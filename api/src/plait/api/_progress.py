"""Live run progress for the CLI: one line per node event, written to stderr.

The progress printer is an event-store listener, so it sees exactly the events the run
writes, in order, as they are appended. On a terminal the lines are coloured and carry
symbols; anywhere else (a pipe, a log file, CI) they are plain ASCII words, one line per
event, with no cursor movement or animation.

This module is imported only once a run is about to start: it may import the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from plait.node_runner import events as ev

if TYPE_CHECKING:
    from rich.console import Console

    from plait.node_runner.events import RunEvent
    from plait.node_runner.flow import Flow

# Error messages can be long (a response body, a traceback-like text); a progress line
# shows the first line, cut to this many characters. The full error is in --json output.
MAX_MESSAGE_CHARS = 160

# The symbol and style a terminal shows for each event type.
_MARKS: dict[str, tuple[str, str]] = {
    ev.NODE_STARTED: ("▶", "dim"),
    ev.NODE_SUCCEEDED: ("✓", "green"),
    ev.NODE_RETRYING: ("↻", "yellow"),
    ev.NODE_FAILED: ("✗", "red"),
    ev.NODE_TIMED_OUT: ("⏱", "red"),
    ev.NODE_SKIPPED: ("·", "dim"),
    ev.NODE_ABANDONED: ("·", "dim"),
    ev.NODE_CANCELLED: ("■", "yellow"),
    ev.NODE_SUSPENDED: ("⏸", "cyan"),
}


def format_duration(seconds: float) -> str:
    """A short human duration: ``850 ms``, ``2.4 s``, ``3 min 05 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def short_message(error: Any) -> str:
    """``kind: first line of the message`` of a structured error, cut to a line's length."""
    if not isinstance(error, dict):
        return str(error)
    message = str(error.get("message") or "").strip().splitlines()
    text = f"{error.get('kind', 'error')}: {message[0] if message else 'no message'}"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


class RunProgress:
    """Prints one line per node event of a run; attach it to an event store's listeners.

    Args:
        console: Where to print (a stderr console).
        flow: The flow being run, for node types and retry limits.
        fancy: Symbols and colours (a terminal) rather than plain words.
    """

    def __init__(self, console: Console, flow: Flow, *, fancy: bool) -> None:
        self._console = console
        self._fancy = fancy
        self._types = {node.id: node.type for node in flow.nodes}
        self._max_attempts = {node.id: node.retry.max_attempts for node in flow.nodes}
        self._width = max((len(node.id) for node in flow.nodes), default=0)
        # First node.started time per node: durations cover every attempt and wait.
        self._started: dict[str, float] = {}

    def __call__(self, event: RunEvent) -> None:
        mark = _MARKS.get(event.type)
        node_id = event.node_id
        if mark is None or node_id is None:
            # Run-level events get the CLI's summary when the run ends; node.resumed is
            # followed by the node's own outcome, which says what came of the wait.
            return
        detail = self._detail(event, node_id)
        if detail is None:
            return
        symbol, style = mark
        if event.data.get("routed") in ("error_port", "continue"):
            style = "yellow"  # handled by the flow: a warning, not the run's failure
        line = Text("  ")
        if self._fancy:
            line.append(f"{symbol} ", style=style)
            line.append(node_id.ljust(self._width), style="bold")
            line.append(f"  {detail}", style=style)
        else:
            line.append(f"{node_id.ljust(self._width)}  {detail}")
        self._console.print(line, highlight=False, soft_wrap=True)

    def _attempts(self, node_id: str, attempt: int) -> str:
        limit = self._max_attempts.get(node_id, 1)
        return f"attempt {attempt}/{limit}" if limit > 1 else f"attempt {attempt}"

    def _elapsed(self, event: RunEvent, node_id: str) -> str:
        started = self._started.get(node_id)
        if started is None:
            return ""  # its start was not seen by this process
        return f" in {format_duration(max(0.0, event.ts - started))}"

    def _detail(self, event: RunEvent, node_id: str) -> str | None:
        """The text after the node id, or ``None`` to print nothing for this event."""
        data = event.data
        etype = event.type
        kind = self._types.get(node_id, "?")
        attempt = int(data.get("attempt") or 1)
        if etype == ev.NODE_STARTED:
            self._started.setdefault(node_id, event.ts)
            if attempt > 1:
                return f"started ({kind}), {self._attempts(node_id, attempt)}"
            return f"started ({kind})"
        if etype == ev.NODE_SUCCEEDED:
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            return f"succeeded{self._elapsed(event, node_id)}{tries}"
        if etype == ev.NODE_RETRYING:
            delay = float(data.get("delay_s") or 0)
            return (
                f"{self._attempts(node_id, attempt)} failed ({short_message(data.get('error'))});"
                f" retrying in {format_duration(delay)}"
            )
        if etype in (ev.NODE_FAILED, ev.NODE_TIMED_OUT):
            verb = "timed out" if etype == ev.NODE_TIMED_OUT else "failed"
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            routed = {
                "error_port": " -> error port",
                "continue": " (ignored: on_error continue)",
            }.get(str(data.get("routed")), "")
            return (
                f"{verb}{self._elapsed(event, node_id)}{tries}:"
                f" {short_message(data.get('error'))}{routed}"
            )
        if etype in (ev.NODE_SKIPPED, ev.NODE_ABANDONED, ev.NODE_CANCELLED):
            word = etype.removeprefix("node.")
            reason = data.get("reason")
            if reason in ev.RUN_TERMINAL_EVENTS:
                reason = f"the run ended ({str(reason).removeprefix('run.').replace('_', ' ')})"
            return f"{word}: {reason}" if reason else word
        if etype == ev.NODE_SUSPENDED:
            if "signal" in data:
                return f"waiting for signal {data['signal']!r}"
            until = str(data.get("until", ""))
            # ISO-8601 in UTC; the time of day is what a person watching wants.
            return f"waiting until {until[11:19]} UTC" if len(until) >= 19 else "waiting"
        return None
