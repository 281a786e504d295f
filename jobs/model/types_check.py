"""Arguments checked against ``perform``'s annotations, for the types JSON carries.

``int``, ``float``, ``str``, ``bool``, ``None``, ``list[...]``, ``dict[str, ...]``,
``Literal[...]`` of such values, ``NewType``s of them, and ``Optional``/unions of
all these are checked; anything else (a class of the application's, a
``TypedDict``, ``Any``, a name that cannot be resolved) leaves its argument
unchecked, never refused. ``bool`` is not an ``int`` here (a JSON ``true`` for a
count is a mistake) and an ``int`` is a ``float``.

Annotations are evaluated once per job class (postponed ones too, with
``typing.get_type_hints``) and compiled into small checks; the worker applies the
same checks to every payload it decodes.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

# A check returns None when the value fits, else what was found instead ("str", "a str at [2]").
Check = Callable[[Any], "str | None"]

_KEY_CHARS = 40


@dataclass(frozen=True)
class Expectation:
    """The type one argument must have: its readable form and its check."""

    shown: str
    check: Check


def mismatch(job: type, kwargs: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first argument whose value does not fit its annotation, as (argument, problem); else None."""
    expected, named, extra = expectations(job)
    for argument, value in kwargs.items():
        expectation = expected.get(argument) if argument in named else extra
        if expectation is None:
            continue
        if value is None and argument in _none_defaults(job):
            continue  # ``note: str = None``: the default itself is always accepted
        found = expectation.check(value)
        if found is not None:
            return argument, f"must be {expectation.shown} (perform()'s annotation), got {found}"
    return None


@functools.lru_cache(maxsize=1024)
def expectations(job: type) -> tuple[dict[str, Expectation], frozenset[str], Expectation | None]:
    """The checkable annotations of ``job.perform``'s named parameters, their names, and the checkable
    annotation of its ``**kwargs`` if any.

    Cached per job class: a worker checks every payload against the same few classes.
    """
    perform = getattr(job, "perform", None)
    if perform is None:
        return {}, frozenset(), None
    parameters = list(inspect.signature(perform).parameters.values())[1:]
    hints = _hints(perform, job, {p.name for p in parameters})
    expected: dict[str, Expectation] = {}
    extra: Expectation | None = None
    for parameter in parameters:
        if parameter.name not in hints:
            continue
        expectation = compile_annotation(hints[parameter.name])
        if expectation is None:
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            extra = expectation
        elif parameter.kind is not parameter.VAR_POSITIONAL:
            expected[parameter.name] = expectation
    named = frozenset(p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
    return expected, named, extra


@functools.lru_cache(maxsize=1024)
def _none_defaults(job: type) -> frozenset[str]:
    parameters = inspect.signature(job.perform).parameters.values()  # type: ignore[attr-defined]
    return frozenset(p.name for p in parameters if p.default is None)


def _hints(perform: Any, job: type, names: set[str]) -> dict[str, Any]:
    """The resolved annotations of ``names``; one that cannot be resolved is left out, never an error."""
    localns = dict(vars(job))
    hints = _resolved(perform, localns)
    if hints is not None:
        return {name: hint for name, hint in hints.items() if name in names}
    # One of them does not resolve: resolve each alone, so that the others are still checked.
    module_globals = getattr(inspect.unwrap(perform), "__globals__", {})
    raw = getattr(perform, "__annotations__", {})
    resolved: dict[str, Any] = {}
    for name in names & set(raw):
        alone = _resolved(_Annotated({name: raw[name]}), localns, module_globals)
        resolved.update(alone or {})
    return resolved


def _resolved(
    annotated: Any, localns: dict[str, Any], globalns: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """``typing.get_type_hints``, or None when an annotation names what cannot be found or evaluated."""
    try:
        return typing.get_type_hints(annotated, globalns=globalns, localns=localns)
    except Exception:  # noqa: BLE001 - whatever the failure, the argument is left unchecked, by design
        return None


class _Annotated:
    """Something ``get_type_hints`` reads one annotation from."""

    def __init__(self, annotations: dict[str, Any]) -> None:
        self.__annotations__ = annotations


def compile_annotation(annotation: Any) -> Expectation | None:
    """The check for ``annotation``, or None if it is not made only of JSON's types."""
    if annotation is None or annotation is type(None):
        return Expectation("None", _exactly_none)
    try:
        simple = _SIMPLE.get(annotation)
    except TypeError:  # an annotation that cannot be hashed is nothing of JSON's
        return None
    if simple is not None:
        return simple
    supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return compile_annotation(supertype)
    return _generic(typing.get_origin(annotation), typing.get_args(annotation))


def _generic(origin: Any, arguments: tuple[Any, ...]) -> Expectation | None:
    if origin is Union or origin is types.UnionType:
        return _union(arguments)
    if origin is typing.Literal:
        return _literal(arguments)
    if origin is list:
        return _list_of(arguments[0]) if arguments else _SIMPLE[list]
    if origin is dict and not arguments:
        return _SIMPLE[dict]
    if origin is dict and arguments[0] is str:
        return _dict_of(arguments[1])
    # JSON's keys are strings: a dict annotated with other keys is not JSON's (nor anything else here).
    return None


def _exactly_none(value: Any) -> str | None:
    return None if value is None else _kind(value)


def _is(kind: type, shown: str) -> Expectation:
    def check(value: Any) -> str | None:
        return None if isinstance(value, kind) else _kind(value)

    return Expectation(shown, check)


def _integer(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) else _kind(value)


def _number(value: Any) -> str | None:
    return None if isinstance(value, int | float) and not isinstance(value, bool) else _kind(value)


_SIMPLE: dict[Any, Expectation] = {
    int: Expectation("int", _integer),
    float: Expectation("float", _number),
    str: _is(str, "str"),
    bool: _is(bool, "bool"),
    list: _is(list, "list"),
    dict: _is(dict, "dict"),
}


def _union(members: tuple[Any, ...]) -> Expectation | None:
    compiled = [compile_annotation(member) for member in members]
    checks = [c for c in compiled if c is not None]
    if len(checks) < len(compiled):
        return None  # one member is not JSON's: it may accept what the others refuse
    shown = " | ".join(c.shown for c in checks)

    def check(value: Any) -> str | None:
        found = [c.check(value) for c in checks]
        if any(f is None for f in found):
            return None
        # The most telling answer: an element at fault inside a list beats "list".
        return max((f for f in found if f is not None), key=len)

    return Expectation(shown, check)


def _literal(values: tuple[Any, ...]) -> Expectation | None:
    if not all(v is None or isinstance(v, str | int | bool) for v in values):
        return None
    shown = f"one of {', '.join(repr(v) for v in values)}"
    allowed = [(type(v), v) for v in values]

    def check(value: Any) -> str | None:
        return None if (type(value), value) in allowed else f"a {_kind(value)} not among them"

    return Expectation(shown, check)


def _list_of(item: Any) -> Expectation:
    inner = compile_annotation(item)
    if inner is None:
        return _SIMPLE[list]  # a list of something JSON cannot say: that it is a list is still checked

    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return _kind(value)
        for index, element in enumerate(value):
            found = inner.check(element)
            if found is not None:
                return f"{found} at [{index}]"
        return None

    return Expectation(f"list[{inner.shown}]", check)


def _dict_of(item: Any) -> Expectation:
    inner = compile_annotation(item)
    if inner is None:
        return _SIMPLE[dict]

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return _kind(value)
        for key, element in value.items():
            if not isinstance(key, str):
                return f"a {_kind(key)} key"
            found = inner.check(element)
            if found is not None:
                return f"{found} at [{_short(key)}]"
        return None

    return Expectation(f"dict[str, {inner.shown}]", check)


def _kind(value: Any) -> str:
    """What a value is, by its type's name: never the value itself, which may be a secret."""
    return "None" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _KEY_CHARS else text[: _KEY_CHARS - 1] + "…"
