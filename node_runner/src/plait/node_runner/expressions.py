"""``{{ … }}`` expressions in string params, evaluated in Jinja2's immutable sandbox.

Names an expression may read: ``inputs`` (this node's input ports), ``nodes.<id>.<port>``
(outputs of ancestors that have run), ``trigger`` (the firing trigger's outputs),
``secrets`` and ``run`` (``id``, ``started_at``). A param that is exactly one expression
keeps the value's type (``"{{ inputs.n }}"`` → ``3``); any other string renders to text.
Templates are compiled once per bundle load and cached by text.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from .errors import KIND_EXPRESSION, NodeError

NAMES = ("inputs", "nodes", "trigger", "secrets", "run")
MAX_RENDERED_CHARS = 10 * 1024 * 1024
MAX_SEQUENCE_PRODUCT = 1_000_000
MAX_EXPONENT_BITS = 4096

_SINGLE = re.compile(r"\A\s*\{\{(?P<expr>.*)\}\}\s*\Z", re.DOTALL)


MAX_RANGE_STEPS = 1_000_000  # iterations of range() per evaluation, all calls together
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_BIG_FORMAT_WIDTH = re.compile(r"\{[^{}]*:[^{}]*\d{7,}[^{}]*\}")
_NESTED_FORMAT_FIELD = re.compile(r":[^{}]*\{")
_BIG_PRINTF_WIDTH = re.compile(r"%[-+ #0]*(\d{7,}|\*)")
_range_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("range_budget")


def _too_big(*values: Any) -> bool:
    return any(type(v) is int and v > MAX_SEQUENCE_PRODUCT for v in values)


def _budgeted_range(*args: int) -> range:
    """``range`` with a budget per evaluation, so nested loops cannot spin for hours."""
    steps = safe_range(*args)
    budget = _range_budget.get(None)
    if budget is not None:
        budget[0] -= len(steps)
        if budget[0] < 0:
            raise OverflowError(f"loops passed {MAX_RANGE_STEPS} range() steps in one expression")
    return steps


def _capped_filter(name: str, filter_: Callable[..., Any]) -> Callable[..., Any]:
    def capped(value: Any, *args: Any, **kwargs: Any) -> Any:
        if _too_big(*args, *kwargs.values()) or (
            name == "format" and isinstance(value, str) and _BIG_PRINTF_WIDTH.search(value)
        ):
            raise OverflowError(f"{name}: size too large for an expression")
        return filter_(value, *args, **kwargs)

    capped.__name__ = filter_.__name__
    for attr in ("jinja_pass_arg",):  # keep how Jinja passes the context/environment
        if hasattr(filter_, attr):
            setattr(capped, attr, getattr(filter_, attr))
    return capped


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with sizes capped so an expression cannot eat the memory:
    ``*``, ``**`` and ``%`` on strings, padding methods and filters, ``replace`` and
    ``range`` (which also has a per-evaluation step budget)."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDTH_METHODS and _too_big(*args, *kwargs.values()):
                raise OverflowError(f"{name}: width too large for an expression")
            if name == "replace" and len(args) >= 2:
                old, new = str(args[0]), str(args[1])
                hits = owner.count(old) if old else len(owner) + 1
                if len(owner) + hits * max(0, len(new) - len(old)) > MAX_SEQUENCE_PRODUCT:
                    raise OverflowError("replace: result too large for an expression")
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Flow data is JSON: ``inputs.items`` means the key "items", not dict.items.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        nested_width = _NESTED_FORMAT_FIELD.search(fmt) is not None

        def checked(*args: Any, **kwargs: Any) -> str:
            if _BIG_FORMAT_WIDTH.search(fmt) or (
                nested_width and _too_big(*args, *kwargs.values())
            ):
                raise OverflowError("format: width too large for an expression")
            return wrapped(*args, **kwargs)

        return checked

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "%":
            if isinstance(left, str) and _BIG_PRINTF_WIDTH.search(left):
                raise OverflowError("%: width too large for an expression")
            return operator.mod(left, right)
        if operator_ == "**":
            if (
                isinstance(right, int)
                and isinstance(left, int)
                and abs(left) > 1
                and right * math.log2(abs(left)) > MAX_EXPONENT_BITS
            ):
                raise OverflowError("power too large for an expression")
            return operator.pow(left, right)
        # "*": repeating a sequence is capped; numbers multiply freely.
        for seq, times in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(times, int)
                and len(seq) * times > MAX_SEQUENCE_PRODUCT
            ):
                raise OverflowError("repeated sequence too long for an expression")
        return operator.mul(left, right)


ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
ENV.globals["range"] = _budgeted_range
for _name in ("center", "indent", "wordwrap", "truncate", "format"):
    ENV.filters[_name] = _capped_filter(_name, ENV.filters[_name])


@contextlib.contextmanager
def _budget() -> Iterator[None]:
    token = _range_budget.set([MAX_RANGE_STEPS])
    try:
        yield
    finally:
        _range_budget.reset(token)


def has_expression(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def single_expression(text: str) -> str | None:
    """The inner expression when ``text`` is exactly one ``{{ … }}``, else ``None``."""
    m = _SINGLE.match(text)
    if m is None:
        return None
    inner = m.group("expr")
    if "{{" in inner or "}}" in inner or "{%" in inner or "{#" in inner:
        return None
    return inner


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=65536)
def parse_problem(text: str) -> str | None:
    """Why ``text`` is not a valid template (or expression), or ``None`` when it is."""
    try:
        inner = single_expression(text)
        if inner is not None:
            ENV.parse("{{" + inner + "}}")
        else:
            ENV.parse(text)
    except TemplateError as exc:
        return f"{exc.message or type(exc).__name__}"
    except (RecursionError, MemoryError):
        return "expression is nested too deeply"
    return None


@lru_cache(maxsize=65536)
def node_references(text: str) -> frozenset[str] | None:
    """Node ids that ``text`` reads through ``nodes``; ``None`` if it reads ``nodes`` dynamically.

    Assumes ``parse_problem(text)`` is ``None``.
    """
    inner = single_expression(text)
    ast = ENV.parse("{{" + inner + "}}" if inner is not None else text)
    found: set[str] = set()
    direct: set[int] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "nodes":
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
            else:
                continue
            direct.add(id(target))
    for name in ast.find_all(nodes.Name):
        if name.name == "nodes" and id(name) not in direct:
            return None  # ``nodes`` used as a whole: ``{% for n in nodes %}``, ``nodes[x]``
    return frozenset(found)


def _check_json(value: Any, depth: int = 0) -> Any:
    """Expression results must be JSON data; tuples become lists."""
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, str):  # Markup and other str subclasses
        return str(value)
    if isinstance(value, bool | int):
        return int(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NodeError(KIND_EXPRESSION, "expression produced a non-finite number")
        return value
    if depth > 64:
        raise NodeError(KIND_EXPRESSION, "expression result is nested too deeply")
    if isinstance(value, Mapping):
        return {str(k): _check_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_check_json(v, depth + 1) for v in value]
    raise NodeError(KIND_EXPRESSION, f"expression produced a {type(value).__name__}, not JSON data")


class Expression:
    """One compiled string param: a typed single expression or a text template."""

    __slots__ = ("_fn", "single", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        inner = single_expression(text)
        self.single = inner is not None
        try:
            if inner is not None:
                self._fn: Callable[[dict[str, Any]], Any] = _compile_single(inner)
            else:
                self._fn = _compile_template(text)
        except TemplateError as exc:
            raise NodeError(KIND_EXPRESSION, f"bad expression {_short(text)!r}: {exc}") from None

    def evaluate(self, names: dict[str, Any]) -> Any:
        try:
            with _budget():
                return self._fn(names)
        except NodeError:
            raise
        except Exception as exc:  # the sandbox's SecurityError, UndefinedError, TypeError...
            msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise NodeError(
                KIND_EXPRESSION, f"expression {_short(self.text)!r} failed: {msg}"
            ) from None


def _compile_single(inner: str) -> Callable[[dict[str, Any]], Any]:
    compiled = _cached_expression(inner)

    def evaluate(names: dict[str, Any]) -> Any:
        value = compiled(**names)
        if isinstance(value, StrictUndefined):
            str(value)  # raises UndefinedError naming what was missing
        return _check_json(value)

    return evaluate


@lru_cache(maxsize=16384)
def _cached_expression(inner: str) -> Any:
    return ENV.compile_expression(inner, undefined_to_none=False)


@lru_cache(maxsize=16384)
def _cached_template(text: str) -> Any:
    return ENV.from_string(text)


def _compile_template(text: str) -> Callable[[dict[str, Any]], str]:
    template = _cached_template(text)

    def render(names: dict[str, Any]) -> str:
        return _join_capped(template.generate(names))

    return render


def _join_capped(chunks: Iterator[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise NodeError(
                KIND_EXPRESSION, f"template output passes {MAX_RENDERED_CHARS} characters"
            )
        out.append(chunk)
    return "".join(out)


def render_template(text: str, names: dict[str, Any]) -> str:
    """Render a text template in the sandbox (used by nodes such as ``data.template``)."""
    try:
        template = _cached_template(text)
        with _budget():
            return _join_capped(template.generate(names))
    except NodeError:
        raise
    except Exception as exc:
        msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise NodeError(KIND_EXPRESSION, f"template failed: {msg}") from None


class CompiledParams:
    """A node's params with every expression compiled; ``render`` gives plain values.

    Params without expressions are returned as they are, at no cost.
    """

    __slots__ = ("_paths", "has_expressions", "references", "static")

    def __init__(self, params: dict[str, Any], raw_fields: frozenset[str] = frozenset()) -> None:
        self.static = params
        self._paths: list[tuple[tuple[str | int, ...], Expression]] = []
        refs: set[str] | None = set()
        for key, value in params.items():
            if key in raw_fields:
                continue
            for path, text in _strings((key,), value):
                if has_expression(text):
                    self._paths.append((path, Expression(text)))
                    found = node_references(text)
                    if found is None or refs is None:
                        refs = None
                    else:
                        refs |= found
        self.has_expressions = bool(self._paths)
        # Node ids read through ``nodes``; None when some expression reads it dynamically.
        self.references: frozenset[str] | None = frozenset(refs) if refs is not None else None

    def render(self, names: dict[str, Any]) -> dict[str, Any]:
        if not self._paths:
            return self.static
        out: dict[str, Any] = _deep_copy_json(self.static)
        for path, expr in self._paths:
            _set_path(out, path, expr.evaluate(names))
        return out


def _strings(
    path: tuple[str | int, ...], value: Any
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings((*path, k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings((*path, i), v)


def iter_param_strings(params: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in a params object with its path (for validation)."""
    for key, value in params.items():
        yield from _strings((key,), value)


def _deep_copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy_json(v) for v in value]
    return value


def _set_path(root: Any, path: tuple[str | int, ...], value: Any) -> None:
    target = root
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
